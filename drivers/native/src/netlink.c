/*
 * Two small kernel resources for AF_XDP shared-address mode (raw syscalls, no libnl/libmnl):
 *
 * - A NETLINK_ROUTE socket opened inside a named namespace, non-blocking, joined to the multicast groups asked
 *   for: JS sends requests (dumps, RTM_NEWNEIGH with NTF_USE) and drains replies and notifications into its own
 *   buffer. Messages are parsed in TypeScript (drivers/netlink/wire.ts); this file only moves datagrams.
 * - A kernel port reservation: a TCP or UDP socket in the namespace bound to (address, port) WITHOUT
 *   SO_REUSEADDR. While it is open no kernel socket can bind the port (a listener with SO_REUSEADDR cannot share
 *   a bucket whose owner lacks it) and the kernel's ephemeral port choice skips it (a bind bucket with
 *   fastreuse >= 0 is skipped by __inet_hash_connect; UDP sees the conflict in udp_lib_get_port).
 *
 * Both are bw_handles (kinds BW_NETLINK and BW_PORT) without frame memory: close(handle), openCount() and the env
 * exit hook treat them like the ring handles. The ring calls refuse them (stub ops).
 *
 * - fdAdopt: a duplicate, in this process, of another process's descriptor (pidfd_getfd(2)): the `byway run --workers`
 *   supervisor takes over a worker's port reservation while the worker lives, so the reservation outlives it.
 *
 * Returns: nlSend/nlRecv never throw for I/O (negative errno); nlOpen throws (netns, socket, bind);
 * portReserve returns a negative errno when bind fails (-EADDRINUSE: the kernel holds the port) and throws for
 * the rest.
 */
#include "byway.h"
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <netinet/in.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

static int stub_rx_batch(bw_handle *h, uint32_t max) { return -EBADF; }
static void stub_rx_release(bw_handle *h) {}
static int stub_rx_pending(bw_handle *h) { return 0; }
static int stub_tx_alloc(bw_handle *h, uint32_t max) { return -EBADF; }
static int stub_tx_submit(bw_handle *h, uint32_t n) { return -EBADF; }
static const bw_ops plain_fd_ops = {stub_rx_batch, stub_rx_release, stub_rx_pending, stub_tx_alloc, stub_tx_submit, NULL};

static bw_handle *new_plain(napi_env env, int kind) {
  bw_handle *h = calloc(1, sizeof *h);
  if (!h) return NULL;
  h->env = env;
  h->kind = kind;
  h->ops = &plain_fd_ops;
  h->fd = -1;
  h->netns_fd = -1;
  return h;
}

/* nlOpen(netns | undefined, groups, rcvbuf) -> handle. `groups` is the RTMGRP_* bit mask for nl_groups. */
napi_value bw_js_nl_open(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char ns[256];
  uint32_t groups = 0, rcvbuf = 0;
  if (argc < 2 || !bw_arg_netns(env, argv[0], ns, sizeof ns) || napi_get_value_uint32(env, argv[1], &groups) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "nlOpen(netns, groups, rcvbuf): netns a string or undefined, groups a number");
    return NULL;
  }
  if (argc > 2) napi_get_value_uint32(env, argv[2], &rcvbuf);
  bw_error e = {0};
  int saved = -1, fd = -1;
  if (bw_netns_enter(ns, &saved, NULL, &e) != 0) {
    bw_throw(env, &e);
    return NULL;
  }
  fd = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_ROUTE);
  int err = fd < 0 ? errno : 0;
  bw_netns_leave(saved);
  if (fd < 0) {
    bw_set_error(&e, err, "socket(AF_NETLINK)", NULL);
    bw_throw(env, &e);
    return NULL;
  }
  if (rcvbuf > 0) {
    int v = (int)rcvbuf;
    /* SO_RCVBUFFORCE (root) goes past net.core.rmem_max; fall back to the capped one. */
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &v, sizeof v) != 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof v);
  }
  int one = 1;
  setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof one); /* error messages; ignored if unsupported */
  struct sockaddr_nl sa;
  memset(&sa, 0, sizeof sa);
  sa.nl_family = AF_NETLINK;
  sa.nl_groups = groups;
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
    bw_set_error(&e, errno, "bind(AF_NETLINK)", "groups 0x%x", groups);
    close(fd);
    bw_throw(env, &e);
    return NULL;
  }
  bw_handle *h = new_plain(env, BW_NETLINK);
  if (!h) {
    close(fd);
    bw_set_error(&e, ENOMEM, "nlOpen", NULL);
    bw_throw(env, &e);
    return NULL;
  }
  h->fd = fd;
  return bw_wrap_handle(env, h);
}

static bw_handle *nl_handle(napi_env env, napi_value v) {
  bw_handle *h = bw_get_handle(env, v);
  if (h && h->kind != BW_NETLINK) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "expected a netlink handle");
    return NULL;
  }
  return h;
}

/* nlSend(handle, bytes) -> bytes sent, or a negative errno. To the kernel (nl_pid 0). */
napi_value bw_js_nl_send(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  bw_handle *h = argc > 0 ? nl_handle(env, argv[0]) : NULL;
  uint8_t *p;
  size_t n;
  if (!h) return NULL;
  if (argc < 2 || !bw_arg_bytes(env, argv[1], &p, &n)) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "nlSend(handle, bytes): bytes must be a Uint8Array");
    return NULL;
  }
  if (h->closed) return bw_ret_int(env, -EBADF);
  struct sockaddr_nl to;
  memset(&to, 0, sizeof to);
  to.nl_family = AF_NETLINK;
  ssize_t r = sendto(h->fd, p, n, 0, (struct sockaddr *)&to, sizeof to);
  return bw_ret_int(env, r < 0 ? -errno : r);
}

/*
 * nlRecv(handle, buf) -> bytes of one datagram (one or more netlink messages), 0 when nothing is waiting
 * (EAGAIN), or a negative errno: -ENOBUFS when the kernel dropped notifications (the socket's buffer overran: the
 * caller should dump again), -EMSGSIZE when a datagram did not fit `buf` (it is lost). Datagrams that do not come
 * from the kernel (nl_pid != 0) are skipped.
 */
napi_value bw_js_nl_recv(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  bw_handle *h = argc > 0 ? nl_handle(env, argv[0]) : NULL;
  uint8_t *p;
  size_t n;
  if (!h) return NULL;
  if (argc < 2 || !bw_arg_bytes(env, argv[1], &p, &n)) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "nlRecv(handle, buf): buf must be a Uint8Array");
    return NULL;
  }
  if (h->closed) return bw_ret_int(env, -EBADF);
  for (;;) {
    struct sockaddr_nl from;
    socklen_t fl = sizeof from;
    memset(&from, 0, sizeof from);
    ssize_t r = recvfrom(h->fd, p, n, MSG_DONTWAIT | MSG_TRUNC, (struct sockaddr *)&from, &fl);
    if (r < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return bw_ret_int(env, 0);
      if (errno == EINTR) continue;
      return bw_ret_int(env, -errno);
    }
    if (from.nl_pid != 0) continue;
    if ((size_t)r > n) return bw_ret_int(env, -EMSGSIZE);
    return bw_ret_int(env, r);
  }
}

/*
 * portReserve(netns | undefined, protocol ('tcp' | 'udp'), ipv4 (host order), port, family?) -> handle, or a
 * negative errno from bind (-EADDRINUSE: a kernel socket holds the port). family 6: an AF_INET6 socket bound to
 * [::]:port with IPV6_V6ONLY (the port on every IPv6 address; ipv4 is ignored).
 */
napi_value bw_js_port_reserve(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char ns[256], proto[8];
  size_t len;
  uint32_t ip, port;
  if (argc < 4 || !bw_arg_netns(env, argv[0], ns, sizeof ns) || napi_get_value_string_utf8(env, argv[1], proto, sizeof proto, &len) != napi_ok ||
      napi_get_value_uint32(env, argv[2], &ip) != napi_ok || napi_get_value_uint32(env, argv[3], &port) != napi_ok || port > 65535 ||
      (strcmp(proto, "tcp") && strcmp(proto, "udp"))) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "portReserve(netns, 'tcp' | 'udp', ipv4, port)");
    return NULL;
  }
  bool tcp = !strcmp(proto, "tcp");
  uint32_t family = 4;
  if (argc >= 5) napi_get_value_uint32(env, argv[4], &family);
  bool raw = false; /* the bare descriptor, no handle: any thread of the process may release it (portRelease) */
  if (argc >= 6) napi_get_value_bool(env, argv[5], &raw);
  int af = family == 6 ? AF_INET6 : AF_INET;
  bw_error e = {0};
  int saved = -1;
  if (bw_netns_enter(ns, &saved, NULL, &e) != 0) {
    bw_throw(env, &e);
    return NULL;
  }
  int fd = socket(af, (tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int err = fd < 0 ? errno : 0;
  bw_netns_leave(saved);
  if (fd < 0) {
    bw_set_error(&e, err, af == AF_INET6 ? "socket(AF_INET6)" : "socket(AF_INET)", "port reservation");
    bw_throw(env, &e);
    return NULL;
  }
  /* No SO_REUSEADDR, on purpose: see the header comment. */
  struct sockaddr_in sa;
  struct sockaddr_in6 sa6;
  memset(&sa, 0, sizeof sa);
  memset(&sa6, 0, sizeof sa6);
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(ip);
  sa.sin_port = htons((uint16_t)port);
  sa6.sin6_family = AF_INET6;
  sa6.sin6_addr = in6addr_any;
  sa6.sin6_port = htons((uint16_t)port);
  if (af == AF_INET6) {
    int one = 1;
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  }
  if (af == AF_INET6 ? bind(fd, (struct sockaddr *)&sa6, sizeof sa6) != 0 : bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
    err = errno;
    close(fd);
    return bw_ret_int(env, -err);
  }
  if (!tcp) {
    /* Nothing must queue on the reservation: byway gets these packets through XDP, and a datagram the XDP
       program passed up (a fragment) would otherwise sit in this socket. The smallest buffer bounds that. */
    int v = 1;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof v);
  }
  if (raw) return bw_ret_int(env, fd);
  bw_handle *h = new_plain(env, BW_PORT);
  if (!h) {
    close(fd);
    bw_set_error(&e, ENOMEM, "portReserve", NULL);
    bw_throw(env, &e);
    return NULL;
  }
  h->fd = fd;
  return bw_wrap_handle(env, h);
}

/*
 * portRelease(fd) -> 0 | -errno: close a reservation portReserve returned raw. The descriptor belongs to the process,
 * not to the thread that made it (a cluster's workers share their reservations; drivers/af-xdp/flow-table.ts), so
 * the environment clean-up of a thread that ends does not close it: whoever drops the last holder does.
 */
napi_value bw_js_port_release(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t fd;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 1 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "portRelease(fd): fd must be a descriptor");
    return NULL;
  }
  return bw_ret_int(env, close(fd) == 0 ? 0 : -errno);
}

/*
 * fdAdopt(pid, fd) -> a new descriptor of this process (close-on-exec) for process pid's descriptor fd, or -errno
 * (ESRCH: the process is gone; EBADF: it has no such descriptor; EPERM: not allowed to ptrace it). pidfd_open(2)
 * then pidfd_getfd(2) (Linux 5.6), which needs PTRACE_MODE_ATTACH_REALCREDS over the target: a parent over its
 * child of the same user, or CAP_SYS_PTRACE. Never throws for a failed call.
 */
napi_value bw_js_fd_adopt(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  int32_t pid, fd;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 2 || napi_get_value_int32(env, argv[0], &pid) != napi_ok || napi_get_value_int32(env, argv[1], &fd) != napi_ok || pid <= 0 || fd < 0) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "fdAdopt(pid, fd): a process id and a descriptor");
    return NULL;
  }
  int pidfd = (int)syscall(SYS_pidfd_open, (pid_t)pid, 0);
  if (pidfd < 0) return bw_ret_int(env, -errno);
  int r = (int)syscall(SYS_pidfd_getfd, pidfd, fd, 0);
  int err = r < 0 ? errno : 0;
  close(pidfd);
  return bw_ret_int(env, r < 0 ? -err : r);
}
