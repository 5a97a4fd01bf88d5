/* The pod sandbox of the local cluster's real node (tools/local_cluster/images.py).
 * It holds the pod's namespaces open and does nothing else: it sleeps until SIGINT or
 * SIGTERM, and lets the kernel reap any orphan it inherits (SIGCHLD ignored). */
#include <signal.h>
#include <unistd.h>

static void stop(int signum) { (void)signum; _exit(0); }

int main(void) {
    signal(SIGINT, stop);
    signal(SIGTERM, stop);
    signal(SIGCHLD, SIG_IGN);
    for (;;) pause();
}
