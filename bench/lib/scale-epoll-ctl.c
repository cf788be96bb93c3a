/*
 * What a readiness re-arm costs on this machine (docs/scaling.md, tenth session): an EPOLL_CTL_ADD and an
 * EPOLL_CTL_DEL of an AF_PACKET socket (what the addon's one-shot readiness did per wake-up: libuv's uv_poll_stop
 * deletes the fd, the next uv_poll_start adds it again), and an epoll_wait with a zero timeout for scale. Root
 * (an AF_PACKET socket); nothing is sent or received.
 *   cc -O2 -o /tmp/scale-epoll-ctl bench/lib/scale-epoll-ctl.c && /tmp/scale-epoll-ctl
 */
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>
static double now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec/1e9;}
int main(void){
  int ep=epoll_create1(0);
  int fd=socket(AF_PACKET,SOCK_RAW,htons(ETH_P_ALL)); /* not bound: no traffic needed for the ctl cost */
  if(fd<0){perror("socket");return 1;}
  struct epoll_event ev={.events=EPOLLIN};
  int N=200000;
  for(int r=0;r<3;r++){
    double t0=now();
    for(int i=0;i<N;i++){epoll_ctl(ep,EPOLL_CTL_ADD,fd,&ev);epoll_ctl(ep,EPOLL_CTL_DEL,fd,NULL);}
    double t1=now();
    for(int i=0;i<N;i++){struct epoll_event e[4];epoll_wait(ep,e,4,0);}
    double t2=now();
    printf("ADD+DEL pair %.3f us; epoll_wait(0) %.3f us\n",(t1-t0)/N*1e6,(t2-t1)/N*1e6);
  }
  return 0;
}
