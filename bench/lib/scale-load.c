/*
 * Load generator for bench/scale.ts (issue #19), run in the peer namespace: many flows, so a receiver's queues
 * (fanout members, SO_REUSEPORT-less Node cluster workers) all get work.
 *   scale-load udp  HOST PORT FLOWS SECONDS   FLOWS connected UDP sockets (one source port each), 64-byte
 *                                             datagrams with sendmmsg in batches of 32, round robin, unpaced
 *   scale-load tcp  HOST PORT CONNS SECONDS   CONNS connections, each: write 64 bytes, read 64 back, repeat
 *   scale-load http HOST PORT CONNS SECONDS   CONNS keep-alive connections, each: GET /, read one whole response
 *                                             (headers and Content-Length bytes), repeat
 * One thread, epoll. Prints "sent N" (udp) or "done N errors E" (tcp/http: transactions completed) when done, then
 * "cpu_us U S vcsw V ivcsw I": its own user and system CPU time (us) and context switches (getrusage), so the bench
 * can say what the load costs per operation against each server (on a veth, the sender's system time includes the
 * receiving side's protocol work: softirq processing runs in the sending syscall). Last, "machine_us B I S T": the
 * whole machine's busy, idle (with iowait), softirq and stolen time (us, every vCPU, /proc/stat, which no namespace
 * hides) over exactly the counted seconds, so the bench's per-operation machine figures cover the operations' window.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* "cpu_us U S vcsw V ivcsw I" (getrusage of this process): see the header. */
static void print_rusage(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  printf("cpu_us %ld %ld vcsw %ld ivcsw %ld\n", (long)ru.ru_utime.tv_sec * 1000000L + (long)ru.ru_utime.tv_usec,
         (long)ru.ru_stime.tv_sec * 1000000L + (long)ru.ru_stime.tv_usec, ru.ru_nvcsw, ru.ru_nivcsw);
}

/* The first line of /proc/stat: busy, idle (+ iowait), softirq and steal, in clock ticks. */
typedef struct {
  long long busy, idle, softirq, steal;
} machine;

static machine machine_now(void) {
  machine m = {0, 0, 0, 0};
  FILE *f = fopen("/proc/stat", "r");
  if (!f) return m;
  long long v[8] = {0};
  if (fscanf(f, "cpu %lld %lld %lld %lld %lld %lld %lld %lld", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]) == 8) {
    m.idle = v[3] + v[4];
    m.busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
    m.softirq = v[6];
    m.steal = v[7];
  }
  fclose(f);
  return m;
}

static void print_machine_between(machine a, machine b) {
  double us = 1e6 / (double)sysconf(_SC_CLK_TCK);
  printf("machine_us %.0f %.0f %.0f %.0f\n", (double)(b.busy - a.busy) * us, (double)(b.idle - a.idle) * us, (double)(b.softirq - a.softirq) * us,
         (double)(b.steal - a.steal) * us);
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

typedef struct {
  int fd;
  int got;      /* bytes of the current answer read */
  int want;     /* bytes the current answer has (-1: headers not complete yet) */
  char buf[4096];
} conn;

static const char REQ_HTTP[] = "GET / HTTP/1.1\r\nHost: bench\r\n\r\n";
static char REQ_TCP[64];

static int send_req(conn *c, int http) {
  c->got = 0;
  c->want = http ? -1 : 64;
  const char *r = http ? REQ_HTTP : REQ_TCP;
  size_t n = http ? sizeof REQ_HTTP - 1 : sizeof REQ_TCP;
  return write(c->fd, r, n) == (ssize_t)n ? 0 : -1;
}

/* The answer is complete: 1; not yet: 0. HTTP: headers, then Content-Length bytes. */
static int answer_done(conn *c, int http) {
  if (!http) return c->got >= 64;
  if (c->want < 0) {
    c->buf[c->got < (int)sizeof c->buf ? c->got : (int)sizeof c->buf - 1] = 0;
    char *end = strstr(c->buf, "\r\n\r\n");
    if (!end) return 0;
    char *cl = strcasestr(c->buf, "content-length:");
    int body = cl ? atoi(cl + 15) : 0;
    c->want = (int)(end + 4 - c->buf) + body;
  }
  return c->got >= c->want;
}

static int run_conns(const struct sockaddr_in *to, int n, double secs, int http) {
  int ep = epoll_create1(0);
  conn *cs = calloc((size_t)n, sizeof *cs);
  memset(REQ_TCP, 'q', sizeof REQ_TCP);
  for (int i = 0; i < n; i++) {
    cs[i].fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(cs[i].fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(cs[i].fd, (const struct sockaddr *)to, sizeof *to) != 0) return perror("connect"), 1;
    fcntl(cs[i].fd, F_SETFL, O_NONBLOCK);
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
    epoll_ctl(ep, EPOLL_CTL_ADD, cs[i].fd, &ev);
  }
  long done = 0, errors = 0;
  machine m0 = machine_now();
  double end = now_s() + secs;
  for (int i = 0; i < n; i++) send_req(&cs[i], http);
  struct epoll_event evs[256];
  while (now_s() < end) {
    int k = epoll_wait(ep, evs, 256, 50);
    for (int j = 0; j < k; j++) {
      conn *c = &cs[evs[j].data.u32];
      for (;;) {
        ssize_t r = read(c->fd, c->buf + (c->got < (int)sizeof c->buf - 1 ? c->got : 0), sizeof c->buf - 1 - (size_t)(c->got < (int)sizeof c->buf - 1 ? c->got : 0));
        if (r <= 0) {
          if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
            errors++;
            epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
          }
          break;
        }
        c->got += (int)r;
        if (answer_done(c, http)) {
          done++;
          if (send_req(c, http) != 0) errors++;
        }
      }
    }
  }
  machine m1 = machine_now();
  printf("done %ld errors %ld\n", done, errors);
  print_rusage();
  print_machine_between(m0, m1);
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 6) {
    fprintf(stderr, "usage: scale-load udp|tcp|http HOST PORT FLOWS|CONNS SECONDS\n");
    return 2;
  }
  struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[3]))};
  inet_pton(AF_INET, argv[2], &to.sin_addr);
  int n = atoi(argv[4]);
  double secs = atof(argv[5]);
  if (!strcmp(argv[1], "udp")) {
    int *fds = calloc((size_t)n, sizeof *fds);
    for (int i = 0; i < n; i++) {
      fds[i] = socket(AF_INET, SOCK_DGRAM, 0);
      if (connect(fds[i], (struct sockaddr *)&to, sizeof to) != 0) return perror("connect"), 1;
    }
    static char buf[64];
    memset(buf, 0x75, sizeof buf);
    struct iovec iov = {.iov_base = buf, .iov_len = sizeof buf};
    struct mmsghdr msgs[32];
    memset(msgs, 0, sizeof msgs);
    for (int i = 0; i < 32; i++) {
      msgs[i].msg_hdr.msg_iov = &iov;
      msgs[i].msg_hdr.msg_iovlen = 1;
    }
    long sent = 0;
    machine m0 = machine_now();
    double end = now_s() + secs;
    for (int i = 0; now_s() < end; i = (i + 1) % n) {
      int r = sendmmsg(fds[i], msgs, 32, 0);
      if (r > 0) sent += r;
    }
    machine m1 = machine_now();
    printf("sent %ld\n", sent);
    print_rusage();
    print_machine_between(m0, m1);
    return 0;
  }
  if (!strcmp(argv[1], "tcp")) return run_conns(&to, n, secs, 0);
  if (!strcmp(argv[1], "http")) return run_conns(&to, n, secs, 1);
  fprintf(stderr, "unknown mode %s\n", argv[1]);
  return 2;
}
