/*
 * Event-loop turns without an allocation: a libuv check handle that calls one JavaScript function in the check
 * phase of each loop iteration for which it was armed, and an idle handle, started only while armed, that keeps the
 * loop's poll phase from blocking (what Node itself does for setImmediate). The poll loop (src/runtime) arms it
 * where it would call setImmediate; the difference is that setImmediate makes an Immediate object (and Node's
 * processImmediate more) per turn, about 200 bytes of garbage per poll, which a busy ping-pong pays twice per round
 * trip. The call goes through napi_make_callback, so nextTicks and microtasks run after it as after an immediate.
 *
 * Bursts: opened with a burst budget (turnOpen(fn, burstUs)), one check phase calls fn again at once while fn
 * re-armed the turn and less than burstUs have passed since the phase's first call, instead of leaving the re-armed
 * call to the next loop iteration. Each call still ends in nextTicks and microtasks; what waits is the rest of the
 * loop (timers, other I/O, immediates), at most about burstUs, as it already waits for a native spin of that
 * length. A busy ping-pong re-arms once per round trip, and each loop iteration between two calls cost an
 * epoll_pwait (about 1.1 us per system call on these VMs) and libuv's bookkeeping.
 * While armed, the idle handle (ref'd) keeps the process alive, as a pending immediate does; disarmed, nothing
 * does (the check handle is unref'd). Errors thrown by the callback go to the process's uncaught-exception path.
 * Closed by turnClose() or, for a worker thread or at exit, by the environment's clean-up hook.
 */
#include "byway.h"
#include <stdlib.h>

typedef struct bw_turn {
  napi_env env;
  napi_ref fn;
  napi_async_context ctx;
  uv_check_t check;
  uv_idle_t idle;
  bool armed;
  bool idle_on;
  uint64_t burst_ns; /* 0: one call per loop iteration */
  bool closed;
  int refs; /* the two uv handles until closed, and the JS external until collected: freed at 0 */
} bw_turn;

static void turn_unref(bw_turn *t) {
  if (--t->refs == 0) free(t);
}

static void turn_handle_closed(uv_handle_t *h) { turn_unref(h->data); }

static void idle_cb(uv_idle_t *i) {}

static void check_cb(uv_check_t *c) {
  bw_turn *t = c->data;
  uint64_t start = t->burst_ns > 0 ? uv_hrtime() : 0;
  while (!t->closed && t->armed) {
    t->armed = false;
    if (t->idle_on) {
      uv_idle_stop(&t->idle);
      t->idle_on = false;
    }
    bw_call_js(t->env, t->fn, t->ctx);
    if (t->burst_ns == 0 || uv_hrtime() - start >= t->burst_ns) break;
  }
}

/* Stop calling JS and give the handles back to libuv; the JS references go now (the env is still alive). */
static void turn_close(bw_turn *t) {
  if (t->closed) return;
  t->closed = true;
  t->armed = false;
  napi_remove_env_cleanup_hook(t->env, (void (*)(void *))turn_close, t);
  napi_delete_reference(t->env, t->fn);
  napi_async_destroy(t->env, t->ctx);
  uv_close((uv_handle_t *)&t->check, turn_handle_closed);
  uv_close((uv_handle_t *)&t->idle, turn_handle_closed);
}

static void turn_finalize(napi_env env, void *data, void *hint) { turn_unref(data); }

static bw_turn *get_turn(napi_env env, napi_callback_info info, napi_value *argv, size_t want) {
  size_t argc = want;
  void *p = NULL;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 1 || napi_get_value_external(env, argv[0], &p) != napi_ok || !p) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "expected a turn handle from turnOpen()");
    return NULL;
  }
  return p;
}

/* turnOpen(fn, burstUs = 0): a handle; fn() is called once per loop iteration for which turnArm() was called before
   its check phase, and again in the same phase while it re-arms within burstUs of the phase's first call. */
napi_value bw_js_turn_open(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], ext, name;
  napi_valuetype type = napi_undefined;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 1 || napi_typeof(env, argv[0], &type) != napi_ok || type != napi_function) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "turnOpen(fn): fn must be a function");
    return NULL;
  }
  uv_loop_t *loop;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) {
    napi_throw_error(env, "ERR_NATIVE_UNAVAILABLE", "no event loop for this environment");
    return NULL;
  }
  double burst_us = 0;
  if (argc >= 2) {
    napi_valuetype bt = napi_undefined;
    napi_typeof(env, argv[1], &bt);
    if (bt != napi_undefined && (bt != napi_number || napi_get_value_double(env, argv[1], &burst_us) != napi_ok || !(burst_us >= 0 && burst_us <= 1e6))) {
      napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "turnOpen(fn, burstUs): burstUs must be a number from 0 to 1000000");
      return NULL;
    }
  }
  bw_turn *t = calloc(1, sizeof *t);
  if (!t) {
    napi_throw_error(env, "ENOMEM", "turnOpen: out of memory");
    return NULL;
  }
  t->burst_ns = (uint64_t)(burst_us * 1000.0);
  t->env = env;
  napi_create_reference(env, argv[0], 1, &t->fn);
  napi_create_string_utf8(env, "byway.turn", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, NULL, name, &t->ctx);
  uv_check_init(loop, &t->check);
  uv_idle_init(loop, &t->idle);
  t->check.data = t;
  t->idle.data = t;
  t->refs = 3;
  uv_check_start(&t->check, check_cb);
  uv_unref((uv_handle_t *)&t->check);
  napi_add_env_cleanup_hook(env, (void (*)(void *))turn_close, t);
  napi_create_external(env, t, turn_finalize, NULL, &ext);
  return ext;
}

/* turnArm(h): call fn in this loop iteration's check phase, or the next one's if that has begun. */
napi_value bw_js_turn_arm(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  bw_turn *t = get_turn(env, info, argv, 1);
  if (!t || t->closed || t->armed) return NULL;
  t->armed = true;
  if (!t->idle_on && uv_idle_start(&t->idle, idle_cb) == 0) t->idle_on = true;
  return NULL;
}

/* turnDisarm(h): forget a pending call. */
napi_value bw_js_turn_disarm(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  bw_turn *t = get_turn(env, info, argv, 1);
  if (!t || t->closed) return NULL;
  t->armed = false;
  if (t->idle_on) {
    uv_idle_stop(&t->idle);
    t->idle_on = false;
  }
  return NULL;
}

/* turnClose(h): no more calls; idempotent. The external stays valid (closed) until collected. */
napi_value bw_js_turn_close(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  bw_turn *t = get_turn(env, info, argv, 1);
  if (t) turn_close(t);
  return NULL;
}
