/*
 * Node-API entry points shared by every driver kind: open, rx/tx batches, readiness through uv_poll, close,
 * namespaces, and the process-exit hook that releases whatever is still open. The helpers they share with the
 * driver kinds (errors, option readers, namespaces, memory) are in support.c.
 *
 * Throws (as Error objects with `code` = errno name, `errno`, `step` = the failing syscall, and for BPF a
 * verifier `log`): the TypeScript loader turns them into BywayErrors with advice. Batch calls never throw for
 * I/O: they return a negative errno and the TypeScript side decides.
 */
#include "byway.h"
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <net/if.h>

static pthread_mutex_t list_lock = PTHREAD_MUTEX_INITIALIZER;
static bw_handle *open_list = NULL;

static void throw_type(napi_env env, const char *msg) { napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg); }

/* ---- handle lifetime ---- */

static void poll_close_cb(uv_handle_t *p) { free(p); }

/* Release every kernel resource of `h`. Safe to call twice and from the exit hook (no JS calls there). */
static void release_kernel(bw_handle *h, bool at_exit) {
  if (h->closed) return;
  h->closed = true;
  if (h->poll) {
    uv_poll_stop(h->poll);
    /* At env teardown Node may unload this addon before the loop runs close callbacks (a worker ending), so
       no callback into our code then: the small uv_poll_t is left to the process. */
    uv_close((uv_handle_t *)h->poll, at_exit ? NULL : poll_close_cb);
    h->poll = NULL;
    h->poll_active = false;
  }
  if (h->ops && h->ops->close) h->ops->close(h); /* kind state: BPF link/prog/maps, ring maps, extra fds */
  if (h->fd >= 0) close(h->fd);
  h->fd = -1;
  if (h->netns_fd >= 0) close(h->netns_fd);
  h->netns_fd = -1;
}

static void free_memory(bw_handle *h) {
  if (h->mem) {
    if (h->mem_kind == 1) munmap(h->mem, h->mem_len);
    else if (h->mem_kind == 2) free(h->mem);
    h->mem = NULL;
  }
  free(h->ctl);
  h->ctl = NULL;
}

static void list_add(bw_handle *h) {
  pthread_mutex_lock(&list_lock);
  h->next = open_list;
  open_list = h;
  pthread_mutex_unlock(&list_lock);
}

static void list_remove(bw_handle *h) {
  pthread_mutex_lock(&list_lock);
  for (bw_handle **p = &open_list; *p; p = &(*p)->next) {
    if (*p == h) {
      *p = h->next;
      break;
    }
  }
  pthread_mutex_unlock(&list_lock);
}

/* Close from JS: detach the ArrayBuffers first so no view reaches freed memory, then release. */
static void close_from_js(napi_env env, bw_handle *h) {
  if (h->closed) return;
  napi_value v;
  if (h->mem_ref) {
    if (napi_get_reference_value(env, h->mem_ref, &v) == napi_ok && v) napi_detach_arraybuffer(env, v);
    napi_delete_reference(env, h->mem_ref);
    h->mem_ref = NULL;
  }
  if (h->ctl_ref) {
    if (napi_get_reference_value(env, h->ctl_ref, &v) == napi_ok && v) napi_detach_arraybuffer(env, v);
    napi_delete_reference(env, h->ctl_ref);
    h->ctl_ref = NULL;
  }
  if (h->ready_ref) {
    napi_delete_reference(env, h->ready_ref);
    h->ready_ref = NULL;
  }
  if (h->async_ctx) {
    napi_async_destroy(env, h->async_ctx);
    h->async_ctx = NULL;
  }
  release_kernel(h, false);
  free_memory(h);
}

static void handle_finalize(napi_env env, void *data, void *hint) {
  bw_handle *h = data;
  list_remove(h);
  if (!h->closed) release_kernel(h, true);
  /* Memory may still back a (dying) ArrayBuffer during teardown; it is freed with the process. */
  if (h->mem_ref == NULL) free_memory(h);
  free(h->priv);
  free(h);
}

/*
 * Env teardown (process exit, or a worker thread ending): release what that env opened and did not close. A ring
 * mapped from the socket (AF_PACKET's) holds a reference to it, so closing the fd alone would leave the socket
 * alive, still a member of its fanout group, as long as the process lives: the mapping is replaced in place by
 * anonymous memory (a dying ArrayBuffer may still point there; it now reads zeros), which drops the reference.
 */
static void exit_hook(void *arg) {
  napi_env env = arg;
  pthread_mutex_lock(&list_lock);
  for (bw_handle *h = open_list; h; h = h->next) {
    if (h->env != env || h->closed) continue;
    release_kernel(h, true);
    if (h->mem && h->mem_kind == 1)
      mmap(h->mem, h->mem_len, PROT_READ | PROT_WRITE, MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  }
  pthread_mutex_unlock(&list_lock);
}

static void noop_finalize(napi_env env, void *data, void *hint) {}

static bw_handle *get_handle(napi_env env, napi_value v) {
  void *p = NULL;
  if (napi_get_value_external(env, v, &p) != napi_ok || !p) {
    throw_type(env, "expected a byway native handle");
    return NULL;
  }
  return p;
}

/* Wrap a handle with no frame memory (netlink sockets, port reservations): tracked like the others, so close(),
   openCount() and the exit hook see it. */
napi_value bw_wrap_handle(napi_env env, bw_handle *h) {
  napi_value ext;
  napi_create_external(env, h, handle_finalize, NULL, &ext);
  list_add(h);
  return ext;
}

bw_handle *bw_get_handle(napi_env env, napi_value v) { return get_handle(env, v); }

/*
 * The prologue of every entry point whose first argument is a handle: up to `n` arguments into argv (those not
 * passed read as undefined, as N-API fills them) and the handle, or NULL with a TypeError pending.
 */
static bw_handle *handle_args(napi_env env, napi_callback_info info, size_t n, napi_value *argv) {
  size_t argc = n;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  return get_handle(env, argv[0]);
}


/* open(kind, opts) -> info object: { handle, mem, ctl, layout numbers, kind-specific fields } */
static napi_value js_open(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char kind[16];
  size_t len;
  if (napi_get_value_string_utf8(env, argv[0], kind, sizeof kind, &len) != napi_ok) {
    throw_type(env, "open(kind, options): kind must be a string");
    return NULL;
  }
  bw_handle *h = calloc(1, sizeof *h);
  h->env = env;
  h->fd = -1;
  h->netns_fd = -1;
  napi_value out;
  napi_create_object(env, &out);
  bw_error e = {0};
  char ns[256];
  bw_cfg c = {env, argv[1], NULL};
  cfg_str(&c, "netns", ns, sizeof ns);
  int saved = -1;
  int rc = bw_cfg_check(&c, "open options", &e);
  if (rc == 0) rc = bw_netns_enter(ns, &saved, &h->netns_fd, &e);
  if (rc == 0) {
    if (!strcmp(kind, "tap")) h->kind = BW_TAP, rc = bw_tap_open(env, argv[1], h, out, &e);
    else if (!strcmp(kind, "packet")) h->kind = BW_PACKET, rc = bw_packet_open(env, argv[1], h, out, &e);
    else if (!strcmp(kind, "xdp")) h->kind = BW_XDP, rc = bw_xdp_open(env, argv[1], h, out, &e);
    else if (!strcmp(kind, "rawip")) h->kind = BW_RAWIP, rc = bw_rawip_open(env, argv[1], h, out, &e);
    else bw_set_error(&e, EINVAL, "open", "unknown driver kind '%s'", kind), rc = -1;
    if (rc == 0 && h->ifname[0]) {
      int mtu = bw_if_mtu(h->ifname);
      set_int(env, out, "mtu", mtu);
    }
    bw_netns_leave(saved);
  }
  if (rc != 0) {
    release_kernel(h, false);
    free_memory(h);
    free(h->priv);
    free(h);
    bw_throw(env, &e);
    return NULL;
  }
  napi_value ext, mem, ctl;
  napi_create_external(env, h, handle_finalize, NULL, &ext);
  napi_create_external_arraybuffer(env, h->mem, h->mem_len, noop_finalize, NULL, &mem);
  napi_create_external_arraybuffer(env, h->ctl, h->ctl_words * 4, noop_finalize, NULL, &ctl);
  napi_create_reference(env, mem, 1, &h->mem_ref);
  napi_create_reference(env, ctl, 1, &h->ctl_ref);
  napi_set_named_property(env, out, "handle", ext);
  napi_set_named_property(env, out, "mem", mem);
  napi_set_named_property(env, out, "ctl", ctl);
  set_int(env, out, "fd", h->fd);
  set_int(env, out, "ifindex", h->ifindex);
  set_str(env, out, "ifname", h->ifname);
  set_int(env, out, "rxDescIdx", h->rx_desc_idx);
  set_int(env, out, "txSlotIdx", h->tx_slot_idx);
  set_int(env, out, "txOutIdx", h->tx_out_idx);
  set_int(env, out, "txMetaIdx", h->tx_meta_idx);
  set_int(env, out, "maxBatch", h->max_batch);
  set_int(env, out, "txBatch", h->tx_batch);
  list_add(h);
  return out;
}

static bool get_u32(napi_env env, napi_value v, uint32_t *out) { return napi_get_value_uint32(env, v, out) == napi_ok; }


/*
 * The prologue of the entry points taking (handle, count): the handle, and argv[1] as a u32 (`dflt` when it is not
 * one) no larger than `cap`. False when the call ends here, with *ret its result: NULL with a TypeError pending
 * (not a handle), or -EBADF (a closed handle).
 */
static bool handle_count3(napi_env env, napi_callback_info info, uint32_t dflt, uint32_t cap, bw_handle **hp, uint32_t *v, napi_value *ret, napi_value *third) {
  napi_value argv[3];
  bw_handle *h = handle_args(env, info, 3, argv);
  if (third) *third = argv[2];
  *ret = NULL;
  if (!h) return false;
  if (h->closed) {
    *ret = bw_ret_int(env, -EBADF);
    return false;
  }
  if (!get_u32(env, argv[1], v)) *v = dflt;
  if (*v > cap) *v = cap;
  *hp = h;
  return true;
}

static bool handle_count(napi_env env, napi_callback_info info, uint32_t dflt, uint32_t cap, bw_handle **hp, uint32_t *v, napi_value *ret) {
  return handle_count3(env, info, dflt, cap, hp, v, ret, NULL);
}

static void poll_cb(uv_poll_t *p, int status, int events);

static void arm_poll(bw_handle *h) {
  if (h->closed || !h->ready_ref || h->poll_active) return;
  if (!h->poll) {
    uv_loop_t *loop;
    if (napi_get_uv_event_loop(h->env, &loop) != napi_ok) return;
    h->poll = malloc(sizeof *h->poll);
    if (uv_poll_init(loop, h->poll, h->fd) != 0) {
      free(h->poll);
      h->poll = NULL;
      return;
    }
    h->poll->data = h;
    /* Readiness alone does not keep the process alive (a stack with nothing active must let Node exit, as an idle
       node:net module does): the API's sockets hold the loop themselves while they are active. */
    uv_unref((uv_handle_t *)h->poll);
  }
  if (uv_poll_start(h->poll, (h->want_writable ? UV_WRITABLE : 0) | UV_READABLE | UV_DISCONNECT, poll_cb) == 0) h->poll_active = true;
}

/* One-shot readiness: stop watching, tell JS; the next rxRelease (the end of receive()) re-arms. */
static void poll_cb(uv_poll_t *p, int status, int events) {
  bw_handle *h = p->data;
  if (!h || h->closed) return;
  uv_poll_stop(p);
  h->poll_active = false;
  h->want_writable = false;
  if (status < 0) h->poll_error = status;
  if (h->ready_ref) bw_call_js(h->env, h->ready_ref, h->async_ctx);
}

/* Call a referenced JS function with no arguments from a libuv callback: in a handle scope, through
   napi_make_callback (nextTicks and microtasks run after it), an exception going to uncaughtException. */
void bw_call_js(napi_env env, napi_ref ref, napi_async_context ctx) {
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value fn = NULL, global, res;
  napi_get_reference_value(env, ref, &fn);
  napi_get_global(env, &global);
  if (fn) {
    napi_status s = napi_make_callback(env, ctx, global, fn, 0, NULL, &res);
    if (s == napi_pending_exception) {
      napi_value err;
      napi_get_and_clear_last_exception(env, &err);
      napi_fatal_exception(env, err);
    }
  }
  napi_close_handle_scope(env, scope);
}

static napi_value js_rx_batch(napi_env env, napi_callback_info info) {
  bw_handle *h;
  uint32_t max;
  napi_value ret;
  if (!handle_count(env, info, UINT32_MAX, UINT32_MAX, &h, &max, &ret)) return ret;
  if (max > h->max_batch) max = h->max_batch;
  h->ops->rx_release(h); /* a batch the caller left unreleased (busy poll: see rxRelease) goes back first */
  int n = h->ops->rx_batch(h, max);
  if (n == 0) {
    /* An empty batch is released here (and readiness re-armed), so an empty poll costs one call into the addon, not
       two: the caller calls rxRelease only after a batch that held frames, or an error. */
    h->ops->rx_release(h);
    arm_poll(h);
  }
  return bw_ret_int(env, n);
}

/* ---- bounded spin (rxWait) ---- */

/* The longest spin one call may ask for: 10 ms. Longer would hold the event loop away from timers and I/O. */
#define BW_SPIN_MAX_US 10000u
/* Steps between two reads of the clock (and two housekeeping calls). */
#define BW_SPIN_CLOCK_EVERY 8u

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield" ::: "memory");
#else
  __asm__ __volatile__("" ::: "memory");
#endif
}

static inline uint64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts); /* vDSO: no syscall */
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/*
 * A frame is waiting: with `max` > 0, take a batch of up to `max` frames into the control block's rx descriptors
 * as rxBatch does, and answer its count (an empty one is released here, answering 0; an error releases it and
 * answers -errno); with `max` 0, answer 1 and take nothing.
 */
static int wait_found(bw_handle *h, uint32_t max) {
  if (max == 0) return 1;
  if (max > h->max_batch) max = h->max_batch;
  int n = h->ops->rx_batch(h, max);
  if (n <= 0) {
    h->ops->rx_release(h);
    arm_poll(h);
  }
  return n;
}

/*
 * rxWait(handle, spinUs[, max]) -> n | 0 | -errno: spin on the receive ring (the kind's rx_spin step, or
 * rx_pending) until a frame is waiting or spinUs microseconds have passed (0), without returning to JS in between,
 * as Onload spins inside its blocking calls. The clock (vDSO clock_gettime) is read every BW_SPIN_CLOCK_EVERY
 * steps, with a pause instruction between steps. spinUs is capped at BW_SPIN_MAX_US; 0 only checks once.
 * Without `max` (or 0) a waiting frame answers 1 and nothing is consumed. With `max` the spin hands back the
 * ready batch, as rxBatch(handle, max) would right after it: one call into the addon instead of two when a frame
 * comes (rxRelease follows a count > 0, as after rxBatch).
 */
static napi_value js_rx_wait(napi_env env, napi_callback_info info) {
  bw_handle *h;
  uint32_t us, max = 0;
  napi_value ret, third;
  if (!handle_count3(env, info, 0, BW_SPIN_MAX_US, &h, &us, &ret, &third)) return ret;
  if (!get_u32(env, third, &max)) max = 0;
  h->ops->rx_release(h); /* as in rxBatch: the previous batch goes back before the ring is looked at */
  int (*step)(bw_handle *, bool) = h->ops->rx_spin;
  int r = step ? step(h, true) : h->ops->rx_pending(h);
  if (r > 0) return bw_ret_int(env, wait_found(h, max));
  if (r < 0 || us == 0) return bw_ret_int(env, r);
  h->ctl[CTL_RX_SPINS]++;
  uint64_t deadline = mono_ns() + (uint64_t)us * 1000u;
  for (uint32_t i = 1;; i++) {
    bool tick = i % BW_SPIN_CLOCK_EVERY == 0;
    r = step ? step(h, tick) : h->ops->rx_pending(h);
    if (r > 0) {
      h->ctl[CTL_RX_SPIN_HITS]++;
      return bw_ret_int(env, wait_found(h, max));
    }
    if (r < 0) return bw_ret_int(env, r);
    if (tick && mono_ns() >= deadline) return bw_ret_int(env, 0);
    cpu_relax();
  }
}

static napi_value js_rx_release(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  bw_handle *h = handle_args(env, info, 1, argv);
  if (!h || h->closed) return NULL;
  h->ops->rx_release(h);
  arm_poll(h);
  return NULL;
}

static napi_value js_rx_pending(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  bw_handle *h = handle_args(env, info, 1, argv);
  if (!h) return NULL;
  if (h->closed) return bw_ret_int(env, 0);
  return bw_ret_int(env, h->ops->rx_pending(h));
}

static napi_value js_tx_alloc(napi_env env, napi_callback_info info) {
  bw_handle *h;
  uint32_t max;
  napi_value ret;
  if (!handle_count(env, info, UINT32_MAX, UINT32_MAX, &h, &max, &ret)) return ret;
  if (max > h->tx_batch) max = h->tx_batch;
  return bw_ret_int(env, h->ops->tx_alloc(h, max));
}

static napi_value js_tx_submit(napi_env env, napi_callback_info info) {
  bw_handle *h;
  uint32_t n;
  napi_value ret;
  if (!handle_count(env, info, UINT32_MAX, UINT32_MAX, &h, &n, &ret)) return ret;
  if (n > h->tx_batch) n = h->tx_batch;
  return bw_ret_int(env, h->ops->tx_submit(h, n));
}

/*
 * txWait(handle): the next readiness callback comes (also) when the socket is writable again: for a sender whose
 * txSubmit stopped at EAGAIN (raw IP), instead of retrying on a timer or spinning. One-shot, like readiness.
 */
static napi_value js_tx_wait(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  bw_handle *h = handle_args(env, info, 1, argv);
  if (!h || h->closed) return NULL;
  h->want_writable = true;
  h->poll_active = false; /* uv_poll_start on an active handle changes its events */
  arm_poll(h);
  return NULL;
}

/* setReady(handle, fn | null): readiness from the event loop. */
static napi_value js_set_ready(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  bw_handle *h = handle_args(env, info, 2, argv);
  if (!h || h->closed) return NULL;
  if (h->ready_ref) {
    napi_delete_reference(env, h->ready_ref);
    h->ready_ref = NULL;
  }
  napi_valuetype t;
  napi_typeof(env, argv[1], &t);
  if (t == napi_function) {
    napi_create_reference(env, argv[1], 1, &h->ready_ref);
    if (!h->async_ctx) {
      napi_value name;
      napi_create_string_utf8(env, "byway:native-ready", NAPI_AUTO_LENGTH, &name);
      napi_async_init(env, NULL, name, &h->async_ctx);
    }
    arm_poll(h);
  } else if (h->poll && h->poll_active) {
    uv_poll_stop(h->poll);
    h->poll_active = false;
  }
  return NULL;
}

static napi_value js_close(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  bw_handle *h = handle_args(env, info, 1, argv);
  if (!h) return NULL;
  close_from_js(env, h);
  return NULL;
}

/* Socket error after readiness reported one (or 0): lets receive() tell a dead link from an idle one. */
static napi_value js_sock_error(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  bw_handle *h = handle_args(env, info, 1, argv);
  if (!h) return NULL;
  if (h->closed) return bw_ret_int(env, EBADF);
  int err = 0;
  socklen_t sl = sizeof err;
  if (h->kind != BW_TAP && getsockopt(h->fd, SOL_SOCKET, SO_ERROR, &err, &sl) != 0) err = errno;
  if (!err && h->poll_error) err = -h->poll_error;
  h->poll_error = 0;
  return bw_ret_int(env, err);
}

/* linkState(handle) -> 'up' | 'down' | 'gone': the interface as seen from the handle's namespace. */
static napi_value js_link_state(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  bw_handle *h = handle_args(env, info, 1, argv);
  if (!h) return NULL;
  const char *state = "gone";
  int saved = -1;
  if (h->netns_fd >= 0) {
    saved = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (saved < 0 || setns(h->netns_fd, CLONE_NEWNET) != 0) {
      if (saved >= 0) close(saved);
      saved = -1;
    }
  }
  char name[IF_NAMESIZE];
  if (h->ifindex > 0 && if_indextoname(h->ifindex, name)) {
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
    if (s >= 0 && ioctl(s, SIOCGIFFLAGS, &ifr) == 0)
      state = (ifr.ifr_flags & IFF_UP) && (ifr.ifr_flags & IFF_RUNNING) ? "up" : "down";
    if (s >= 0) close(s);
  }
  bw_netns_leave(saved);
  napi_value r;
  napi_create_string_utf8(env, state, NAPI_AUTO_LENGTH, &r);
  return r;
}

/* withNetns(name, fn): run fn with this thread in the named namespace (for sockets made by other packages). */
static napi_value js_with_netns(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char ns[256];
  size_t len;
  if (napi_get_value_string_utf8(env, argv[0], ns, sizeof ns, &len) != napi_ok) {
    throw_type(env, "withNetns(name, fn): name must be a string");
    return NULL;
  }
  bw_error e = {0};
  int saved;
  if (bw_netns_enter(ns, &saved, NULL, &e) != 0) {
    bw_throw(env, &e);
    return NULL;
  }
  napi_value global, res = NULL;
  napi_get_global(env, &global);
  napi_call_function(env, global, argv[1], 0, NULL, &res);
  bw_netns_leave(saved); /* also when fn threw: the exception stays pending */
  return res;
}

static napi_value js_xdp_flow(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  bw_handle *h = handle_args(env, info, 5, argv);
  uint32_t ip, port, proto;
  bool add;
  if (!h) return NULL;
  if (h->closed || h->kind != BW_XDP) return bw_ret_int(env, -EBADF);
  get_u32(env, argv[1], &ip);
  get_u32(env, argv[2], &port);
  get_u32(env, argv[3], &proto);
  napi_get_value_bool(env, argv[4], &add);
  return bw_ret_int(env, bw_xdp_flow(h, ip, (uint16_t)port, (uint8_t)proto, add));
}

/*
 * xdpFlowEntry(handle, ipv4, port, protocol, value?, noexist?) -> the flow's 16-byte value (undefined when absent)
 * or, with value, 0 after writing it (noexist: only if absent, else -EEXIST); -errno on failure.
 */
static napi_value js_xdp_flow_entry(napi_env env, napi_callback_info info) {
  napi_value argv[6];
  bw_handle *h = handle_args(env, info, 6, argv);
  uint32_t ip, port, proto;
  if (!h) return NULL;
  if (h->closed || h->kind != BW_XDP) return bw_ret_int(env, -EBADF);
  if (!get_u32(env, argv[1], &ip) || !get_u32(env, argv[2], &port) || !get_u32(env, argv[3], &proto) || port > 65535) {
    throw_type(env, "xdpFlowEntry(handle, ipv4, port, protocol, value?)");
    return NULL;
  }
  napi_valuetype t;
  napi_typeof(env, argv[4], &t);
  uint8_t out[16];
  if (t != napi_undefined) {
    uint8_t *data;
    size_t len;
    if (!bw_arg_bytes(env, argv[4], &data, &len) || len != 16) {
      throw_type(env, "xdpFlowEntry: value must be a 16-byte Uint8Array");
      return NULL;
    }
    bool noexist = false;
    napi_get_value_bool(env, argv[5], &noexist);
    return bw_ret_int(env, bw_xdp_flow_entry(h, ip, (uint16_t)port, (uint8_t)proto, data, noexist, out));
  }
  int r = bw_xdp_flow_entry(h, ip, (uint16_t)port, (uint8_t)proto, NULL, false, out);
  if (r == -ENOENT) {
    napi_value u;
    napi_get_undefined(env, &u);
    return u;
  }
  if (r < 0) return bw_ret_int(env, r);
  void *p;
  napi_value ab, arr;
  napi_create_arraybuffer(env, 16, &p, &ab);
  memcpy(p, out, 16);
  napi_create_typedarray(env, napi_uint8_array, 16, ab, 0, &arr);
  return arr;
}

/* xdpFlowList(handle, buf) -> records written (24 bytes each, bw_xdp_flow_list) or -errno. */
static napi_value js_xdp_flow_list(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  bw_handle *h = handle_args(env, info, 2, argv);
  if (!h) return NULL;
  if (h->closed || h->kind != BW_XDP) return bw_ret_int(env, -EBADF);
  uint8_t *data;
  size_t len;
  if (!bw_arg_bytes(env, argv[1], &data, &len)) {
    throw_type(env, "xdpFlowList(handle, buf): buf must be a Uint8Array");
    return NULL;
  }
  return bw_ret_int(env, bw_xdp_flow_list(h, data, len));
}

/* xdpUnbound(handle, out: the bytes of a Float64Array) -> queues read | -errno: a cluster's shared program's per-queue drops of
   byway's frames for want of a socket (bw_xdp_unbound). */
static napi_value js_xdp_unbound(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  bw_handle *h = handle_args(env, info, 2, argv);
  if (!h) return NULL;
  if (h->closed || h->kind != BW_XDP) return bw_ret_int(env, -EBADF);
  uint8_t *data;
  size_t len;
  if (!bw_arg_bytes(env, argv[1], &data, &len) || ((uintptr_t)data & 7) != 0) {
    throw_type(env, "xdpUnbound(handle, out): out must be the bytes of a Float64Array");
    return NULL;
  }
  return bw_ret_int(env, bw_xdp_unbound(h, (double *)(void *)data, (uint32_t)(len / 8)));
}

/* xdpAddress6(handle, address, add) -> 0 | -errno: one of byway's IPv6 addresses in the own-address program's map. */
static napi_value js_xdp_addr6(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  bw_handle *h = handle_args(env, info, 3, argv);
  if (!h) return NULL;
  if (h->closed || h->kind != BW_XDP) return bw_ret_int(env, -EBADF);
  uint8_t *data;
  size_t len;
  bool add;
  if (!bw_arg_bytes(env, argv[1], &data, &len) || len != 16) {
    throw_type(env, "xdpAddress6(handle, address, add): address must be a 16-byte Uint8Array");
    return NULL;
  }
  napi_get_value_bool(env, argv[2], &add);
  return bw_ret_int(env, bw_xdp_addr6(h, data, add));
}

/* fanoutData(handle, program) -> 0 | -errno: replace the AF_PACKET fanout group's classic BPF program. */
static napi_value js_fanout_data(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  bw_handle *h = handle_args(env, info, 2, argv);
  if (!h) return NULL;
  if (h->closed || h->kind != BW_PACKET) return bw_ret_int(env, -EBADF);
  uint8_t *data;
  size_t len;
  if (!bw_arg_bytes(env, argv[1], &data, &len)) {
    throw_type(env, "fanoutData(handle, program): program must be a Uint8Array");
    return NULL;
  }
  return bw_ret_int(env, bw_packet_fanout_data(h, data, len) == 0 ? 0 : -errno);
}

/* packetMembership(handle, mac, add) -> 0 | -errno: receive (or stop) a multicast MAC on an AF_PACKET device. */
static napi_value js_packet_membership(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  bw_handle *h = handle_args(env, info, 3, argv);
  if (!h) return NULL;
  if (h->closed || h->kind != BW_PACKET) return bw_ret_int(env, -EBADF);
  uint8_t *mac;
  size_t len;
  bool add = false;
  if (!bw_arg_bytes(env, argv[1], &mac, &len) || len != 6) {
    throw_type(env, "packetMembership(handle, mac, add): mac must be a Uint8Array of 6 bytes");
    return NULL;
  }
  napi_get_value_bool(env, argv[2], &add);
  return bw_ret_int(env, bw_packet_mc_membership(h, mac, add) == 0 ? 0 : -errno);
}

static napi_value js_xdp_stats(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  bw_handle *h = handle_args(env, info, 1, argv);
  if (!h || h->closed || h->kind != BW_XDP) return NULL;
  double s[6];
  if (bw_xdp_stats(h, s) != 0) return NULL;
  napi_value o;
  napi_create_object(env, &o);
  const char *names[6] = {"rxDropped", "rxInvalidDescs", "txInvalidDescs", "rxRingFull", "rxFillRingEmpty", "txRingEmpty"};
  for (int i = 0; i < 6; i++) set_int(env, o, names[i], (int64_t)s[i]);
  return o;
}

/* ifInfo(name, netns?) -> { ifindex, mtu, hwAddress } | undefined: an interface as seen from a namespace. */
static napi_value js_if_info(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char name[IF_NAMESIZE], ns[256] = "";
  size_t len;
  if (napi_get_value_string_utf8(env, argv[0], name, sizeof name, &len) != napi_ok || !bw_arg_netns(env, argv[1], ns, sizeof ns)) {
    throw_type(env, "ifInfo(name, netns): name must be a string, netns a string or undefined");
    return NULL;
  }
  bw_error e = {0};
  int saved;
  if (bw_netns_enter(ns, &saved, NULL, &e) != 0) {
    bw_throw(env, &e);
    return NULL;
  }
  int idx = (int)if_nametoindex(name);
  uint8_t mac[6] = {0};
  int mtu = idx ? bw_if_mtu(name) : -1;
  if (idx) bw_if_hwaddr(name, mac);
  bw_netns_leave(saved);
  if (!idx) return NULL;
  napi_value o;
  napi_create_object(env, &o);
  set_int(env, o, "ifindex", idx);
  set_int(env, o, "mtu", mtu);
  set_bytes(env, o, "hwAddress", mac, 6);
  return o;
}

static napi_value js_open_count(napi_env env, napi_callback_info info) {
  int n = 0;
  pthread_mutex_lock(&list_lock);
  for (bw_handle *h = open_list; h; h = h->next)
    if (!h->closed && h->env == env) n++;
  pthread_mutex_unlock(&list_lock);
  return bw_ret_int(env, n);
}

static napi_value init(napi_env env, napi_value exports) {
  struct {
    const char *name;
    napi_callback fn;
  } fns[] = {
      {"open", js_open},           {"rxBatch", js_rx_batch},     {"rxRelease", js_rx_release},
      {"rxWait", js_rx_wait},
      {"rxPending", js_rx_pending}, {"txAlloc", js_tx_alloc},     {"txSubmit", js_tx_submit}, {"txWait", js_tx_wait},
      {"setReady", js_set_ready},   {"close", js_close},          {"sockError", js_sock_error},
      {"linkState", js_link_state}, {"withNetns", js_with_netns}, {"xdpFlow", js_xdp_flow}, {"xdpAddress6", js_xdp_addr6},
      {"xdpFlowEntry", js_xdp_flow_entry}, {"xdpFlowList", js_xdp_flow_list}, {"xdpUnbound", js_xdp_unbound}, {"portRelease", bw_js_port_release}, {"fdAdopt", bw_js_fd_adopt},
      {"xdpStats", js_xdp_stats},   {"openCount", js_open_count}, {"ifInfo", js_if_info},
      {"nlOpen", bw_js_nl_open},    {"nlSend", bw_js_nl_send},    {"nlRecv", bw_js_nl_recv},
      {"portReserve", bw_js_port_reserve}, {"fanoutData", js_fanout_data},
      {"packetMembership", js_packet_membership},
      {"turnOpen", bw_js_turn_open}, {"turnArm", bw_js_turn_arm}, {"turnDisarm", bw_js_turn_disarm},
      {"turnClose", bw_js_turn_close}, {"mallocTrimThreshold", bw_js_malloc_trim},
  };
  for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
    napi_value f;
    napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH, fns[i].fn, NULL, &f);
    napi_set_named_property(env, exports, fns[i].name, f);
  }
  napi_add_env_cleanup_hook(env, exit_hook, env);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
