/*
 * Load generator for bench/rx-path.ts, run in the peer namespace: faster than a Node sender, so the receiver's
 * capacity (not the sender's) is what the harness measures.
 *   blast udp HOST PORT SIZE SECONDS [PPS]  sendmmsg() in batches of 64, as fast as the kernel takes them, or
 *                                          paced to PPS datagrams per second (busy-waits between batches)
 *   blast tcp HOST PORT CONNS SECONDS    CONNS processes, each connect() and write() 64 KiB chunks in a loop
 * Prints "sent N" (datagrams or bytes) on stdout when done.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  if (argc < 6) {
    fprintf(stderr, "usage: blast udp|tcp HOST PORT SIZE|CONNS SECONDS\n");
    return 2;
  }
  struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[3]))};
  inet_pton(AF_INET, argv[2], &to.sin_addr);
  int arg = atoi(argv[4]);
  double end = now_s() + atof(argv[5]);
  if (!strcmp(argv[1], "udp")) {
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (connect(fd, (struct sockaddr *)&to, sizeof to) != 0) return perror("connect"), 1;
    static char buf[2048];
    memset(buf, 0x63, sizeof buf);
    struct iovec iov[64];
    struct mmsghdr m[64];
    memset(m, 0, sizeof m);
    for (int i = 0; i < 64; i++) {
      iov[i].iov_base = buf;
      iov[i].iov_len = (size_t)arg;
      m[i].msg_hdr.msg_iov = &iov[i];
      m[i].msg_hdr.msg_iovlen = 1;
    }
    unsigned long long sent = 0;
    double pps = argc > 6 ? atof(argv[6]) : 0, t0 = now_s();
    while (now_s() < end) {
      if (pps > 0 && (double)sent > (now_s() - t0) * pps) continue;
      int r = sendmmsg(fd, m, 64, 0);
      if (r > 0) sent += (unsigned)r;
    }
    printf("sent %llu\n", sent);
    return 0;
  }
  for (int c = 0; c < arg; c++) {
    if (fork() == 0) {
      int fd = socket(AF_INET, SOCK_STREAM, 0);
      if (connect(fd, (struct sockaddr *)&to, sizeof to) != 0) return perror("connect"), 1;
      static char buf[65536];
      memset(buf, 0x63, sizeof buf);
      unsigned long long sent = 0;
      while (now_s() < end) {
        ssize_t r = write(fd, buf, sizeof buf);
        if (r <= 0) break;
        sent += (unsigned long long)r;
      }
      close(fd);
      printf("sent %llu\n", sent);
      return 0;
    }
  }
  while (wait(NULL) > 0) {
  }
  return 0;
}
