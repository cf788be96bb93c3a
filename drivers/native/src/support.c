/*
 * What the entry points (addon.c) and the driver kinds share: errors thrown to JavaScript, the option readers, the
 * values handed back, namespaces and interface settings, and the frame and control memory of a handle.
 */
#include "byway.h"
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <net/if.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

void bw_set_error(bw_error *e, int err, const char *step, const char *fmt, ...) {
  e->err = err;
  e->step = step;
  e->detail[0] = 0;
  if (fmt) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->detail, sizeof e->detail, fmt, ap);
    va_end(ap);
  }
}

void bw_throw(napi_env env, bw_error *e) {
  const char *name = strerrorname_np(e->err);
  char msg[512];
  snprintf(msg, sizeof msg, "%s: %s%s%s", e->step, strerror(e->err), e->detail[0] ? " (" : "", e->detail[0] ? e->detail : "");
  if (e->detail[0]) strncat(msg, ")", sizeof msg - strlen(msg) - 1);
  napi_value code, m, err;
  napi_create_string_utf8(env, name ? name : "EIO", NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &m);
  napi_create_error(env, code, m, &err);
  set_int(env, err, "errno", e->err);
  set_str(env, err, "step", e->step);
  if (e->log) {
    set_str(env, err, "log", e->log);
    free(e->log);
    e->log = NULL;
  }
  napi_throw(env, err);
}


/* ---- option readers (byway.h: bw_cfg) ---- */

static bool cfg_get(bw_cfg *c, const char *k, napi_valuetype want, napi_value *v) {
  napi_valuetype t;
  if (c->o != NULL && napi_typeof(c->env, c->o, &t) == napi_ok && t == napi_object &&
      napi_get_named_property(c->env, c->o, k, v) == napi_ok && napi_typeof(c->env, *v, &t) == napi_ok && t == want)
    return true;
  if (!c->missing) c->missing = k;
  return false;
}

int64_t cfg_int(bw_cfg *c, const char *k) {
  napi_value v;
  int64_t r;
  if (!cfg_get(c, k, napi_number, &v) || napi_get_value_int64(c->env, v, &r) != napi_ok) return 0;
  return r;
}

bool cfg_bool(bw_cfg *c, const char *k) {
  napi_value v;
  bool r;
  if (!cfg_get(c, k, napi_boolean, &v) || napi_get_value_bool(c->env, v, &r) != napi_ok) return false;
  return r;
}

void cfg_str(bw_cfg *c, const char *k, char *buf, size_t n) {
  napi_value v;
  size_t len;
  buf[0] = 0;
  if (!cfg_get(c, k, napi_string, &v)) return;
  /* Too long for its buffer counts as wrong: a cut name would open something else. */
  if (napi_get_value_string_utf8(c->env, v, NULL, 0, &len) != napi_ok || len >= n) {
    if (!c->missing) c->missing = k;
    return;
  }
  napi_get_value_string_utf8(c->env, v, buf, n, &len);
}

bool bw_arg_bytes(napi_env env, napi_value v, uint8_t **p, size_t *n) {
  bool is = false;
  napi_typedarray_type tt;
  size_t len;
  void *data;
  *p = NULL;
  *n = 0;
  if (napi_is_typedarray(env, v, &is) != napi_ok || !is || napi_get_typedarray_info(env, v, &tt, &len, &data, NULL, NULL) != napi_ok ||
      tt != napi_uint8_array)
    return false;
  *p = data;
  *n = len;
  return true;
}

bool bw_arg_netns(napi_env env, napi_value v, char *ns, size_t n) {
  napi_valuetype t;
  size_t len;
  ns[0] = 0;
  if (napi_typeof(env, v, &t) != napi_ok) return false;
  if (t == napi_undefined || t == napi_null) return true;
  return t == napi_string && napi_get_value_string_utf8(env, v, ns, n, &len) == napi_ok;
}

napi_value bw_ret_int(napi_env env, int64_t v) {
  napi_value r;
  napi_create_int64(env, v, &r);
  return r;
}

bool cfg_bytes(bw_cfg *c, const char *k, uint8_t **p, size_t *n) {
  napi_value v;
  napi_valuetype t;
  *p = NULL;
  *n = 0;
  if (c->o == NULL || napi_get_named_property(c->env, c->o, k, &v) != napi_ok || napi_typeof(c->env, v, &t) != napi_ok) t = napi_undefined;
  if (t == napi_null) return false;
  if (bw_arg_bytes(c->env, v, p, n)) return true;
  if (!c->missing) c->missing = k;
  return false;
}

int bw_cfg_check(bw_cfg *c, const char *what, bw_error *e) {
  if (!c->missing) return 0;
  bw_set_error(e, EINVAL, what, "option '%s' missing or of the wrong type (the TypeScript side fills every one)", c->missing);
  return -1;
}

void set_int(napi_env env, napi_value o, const char *k, int64_t v) {
  napi_value x;
  napi_create_int64(env, v, &x);
  napi_set_named_property(env, o, k, x);
}

void set_str(napi_env env, napi_value o, const char *k, const char *v) {
  napi_value x;
  napi_create_string_utf8(env, v, NAPI_AUTO_LENGTH, &x);
  napi_set_named_property(env, o, k, x);
}

void set_bool(napi_env env, napi_value o, const char *k, bool v) {
  napi_value x;
  napi_get_boolean(env, v, &x);
  napi_set_named_property(env, o, k, x);
}

void set_bytes(napi_env env, napi_value o, const char *k, const uint8_t *p, size_t n) {
  napi_value ab, arr;
  void *data;
  napi_create_arraybuffer(env, n, &data, &ab);
  memcpy(data, p, n);
  napi_create_typedarray(env, napi_uint8_array, n, ab, 0, &arr);
  napi_set_named_property(env, o, k, arr);
}

/* ---- namespaces and interface helpers ---- */

int bw_netns_enter(const char *name, int *saved, int *keep_fd, bw_error *e) {
  *saved = -1;
  if (keep_fd) *keep_fd = -1;
  if (!name || !name[0]) return 0;
  if (strchr(name, '/')) {
    bw_set_error(e, EINVAL, "netns", "namespace name '%s' must not contain '/'", name);
    return -1;
  }
  char path[300];
  snprintf(path, sizeof path, "/var/run/netns/%s", name);
  int nfd = open(path, O_RDONLY | O_CLOEXEC);
  if (nfd < 0) {
    bw_set_error(e, errno, "open netns", "%s", path);
    return -1;
  }
  int cur = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (cur < 0) {
    bw_set_error(e, errno, "open /proc/thread-self/ns/net", NULL);
    close(nfd);
    return -1;
  }
  if (setns(nfd, CLONE_NEWNET) != 0) {
    bw_set_error(e, errno, "setns", "namespace %s", name);
    close(nfd);
    close(cur);
    return -1;
  }
  *saved = cur;
  if (keep_fd) *keep_fd = nfd;
  else close(nfd);
  return 0;
}

void bw_netns_leave(int saved) {
  if (saved < 0) return;
  if (setns(saved, CLONE_NEWNET) != 0) {
    /* Staying in the wrong namespace would silently misdirect every later socket: stop here. */
    perror("byway: setns back to the original network namespace");
    abort();
  }
  close(saved);
}

/* Set the MTU (mtu > 0), the transmit queue length (qlen > 0; for a TAP, the frames the kernel holds for its
   reader) and bring the interface up (up). */
int bw_if_setup(const char *ifname, int mtu, int qlen, bool up, bw_error *e) {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) {
    bw_set_error(e, errno, "socket(AF_INET)", NULL);
    return -1;
  }
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  strncpy(ifr.ifr_name, ifname, IFNAMSIZ - 1);
  if (mtu > 0) {
    ifr.ifr_mtu = mtu;
    if (ioctl(s, SIOCSIFMTU, &ifr) != 0) {
      bw_set_error(e, errno, "SIOCSIFMTU", "%s mtu %d", ifname, mtu);
      close(s);
      return -1;
    }
  }
  if (qlen > 0) {
    ifr.ifr_qlen = qlen;
    if (ioctl(s, SIOCSIFTXQLEN, &ifr) != 0) {
      bw_set_error(e, errno, "SIOCSIFTXQLEN", "%s qlen %d", ifname, qlen);
      close(s);
      return -1;
    }
  }
  if (up) {
    if (ioctl(s, SIOCGIFFLAGS, &ifr) != 0) {
      bw_set_error(e, errno, "SIOCGIFFLAGS", "%s", ifname);
      close(s);
      return -1;
    }
    if (!(ifr.ifr_flags & IFF_UP)) {
      ifr.ifr_flags |= IFF_UP;
      if (ioctl(s, SIOCSIFFLAGS, &ifr) != 0) {
        bw_set_error(e, errno, "SIOCSIFFLAGS", "%s up", ifname);
        close(s);
        return -1;
      }
    }
  }
  close(s);
  return 0;
}

/* One interface ioctl on a throwaway socket: `ifr` named for `ifname` (its other fields the caller's). */
static int if_ioctl(const char *ifname, unsigned long req, struct ifreq *ifr) {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return -1;
  strncpy(ifr->ifr_name, ifname, IFNAMSIZ - 1);
  int r = ioctl(s, req, ifr);
  close(s);
  return r;
}

int bw_if_hwaddr(const char *ifname, uint8_t mac[6]) {
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  if (if_ioctl(ifname, SIOCGIFHWADDR, &ifr) != 0) return -1;
  memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
  return 0;
}

/* One SIOCETHTOOL request on the interface: `cmd` is the ethtool struct, its cmd field set. 0 or -1. */
static int if_ethtool(const char *ifname, void *cmd) {
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_data = cmd;
  return if_ioctl(ifname, SIOCETHTOOL, &ifr);
}

/* Transmit checksum offload on the interface (ETHTOOL_GTXCSUM: any of the device's checksum features is on):
   1 on, 0 off, -1 unknown (the ioctl failed). */
int bw_if_tx_csum(const char *ifname) {
  struct ethtool_value v = {.cmd = ETHTOOL_GTXCSUM};
  if (if_ethtool(ifname, &v) != 0) return -1;
  return v.data ? 1 : 0;
}

int bw_if_mtu(const char *ifname) {
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  return if_ioctl(ifname, SIOCGIFMTU, &ifr) == 0 ? ifr.ifr_mtu : -1;
}

int bw_slab_alloc(bw_handle *h, size_t len, bw_error *e) {
  h->mem_len = len;
  if (posix_memalign((void **)&h->mem, 4096, len) != 0) {
    h->mem = NULL;
    bw_set_error(e, ENOMEM, "allocate frame slab", "%zu bytes", len);
    return -1;
  }
  h->mem_kind = 2;
  memset(h->mem, 0, len);
  return 0;
}

uint32_t *bw_free_stack(uint32_t n) {
  uint32_t *s = malloc((n ? n : 1) * sizeof(uint32_t));
  if (s)
    for (uint32_t i = 0; i < n; i++) s[i] = n - 1 - i;
  return s;
}

int bw_ctl_alloc(bw_handle *h, uint32_t max_batch, uint32_t tx_batch) {
  h->max_batch = max_batch;
  h->tx_batch = tx_batch;
  h->rx_desc_idx = CTL_WORDS;
  h->tx_slot_idx = h->rx_desc_idx + 2 * max_batch;
  h->tx_out_idx = h->tx_slot_idx + tx_batch;
  h->tx_meta_idx = h->tx_out_idx + 2 * tx_batch;
  h->ctl_words = h->tx_meta_idx + tx_batch;
  h->ctl = calloc(h->ctl_words, sizeof(uint32_t));
  return h->ctl ? 0 : -1;
}

/* The interface's receive queues in use (ETHTOOL_GCHANNELS: rx + combined channels), or -1 when the driver does
   not say (an AF_XDP program covering fewer queues leaves the others' flows to the kernel). */
int bw_if_rx_queues(const char *ifname) {
  struct ethtool_channels ch;
  memset(&ch, 0, sizeof ch);
  ch.cmd = ETHTOOL_GCHANNELS;
  if (if_ethtool(ifname, &ch) != 0) return -1;
  return (int)(ch.rx_count + ch.combined_count);
}

/*
 * mallocTrimThreshold(bytes) -> 1 | 0 | -1: glibc's M_TRIM_THRESHOLD for this process (mallopt; 1 applied, 0
 * refused), -1 where the C library is not glibc. Why and when: drivers/native/malloc-tuning.ts.
 */
napi_value bw_js_malloc_trim(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  double bytes = 0;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 || napi_get_value_double(env, argv[0], &bytes) != napi_ok ||
      !(bytes >= 0 && bytes <= 2147483647.0)) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "mallocTrimThreshold(bytes): bytes from 0 to 2^31-1");
    return NULL;
  }
#ifdef __GLIBC__
  return bw_ret_int(env, mallopt(M_TRIM_THRESHOLD, (int)bytes) == 1 ? 1 : 0);
#else
  return bw_ret_int(env, -1);
#endif
}
