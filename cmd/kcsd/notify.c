/* notify.c: systemd's notify protocol, written here (no libsystemd): a
 * datagram to $NOTIFY_SOCKET ("READY=1", "STOPPING=1", "WATCHDOG=1"), and
 * a thread that feeds the watchdog at half of $WATCHDOG_USEC while the
 * store answers (a read transaction begins): a kcsd stuck on its store is
 * restarted. Without $NOTIFY_SOCKET it does nothing. */
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "kcsd.h"

void
kcsd_notify(const char *msg)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t n;
	int fd;

	if (!path || (path[0] != '/' && path[0] != '@') || (n = strlen(path)) >= sizeof sa.sun_path)
		return;
	memcpy(sa.sun_path, path, n);
	if (path[0] == '@')
		sa.sun_path[0] = '\0'; /* an abstract socket */
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0)
		return;
	(void)sendto(fd, msg, strlen(msg), MSG_NOSIGNAL, (struct sockaddr *)&sa,
	    (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n));
	close(fd);
}

static struct {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	long long usec;
	int running, stop;
} wd = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };

static void *
watchdog(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&wd.mu);
	while (!wd.stop) {
		struct timespec t;

		struct dbtx *tx = NULL;

		pthread_mutex_unlock(&wd.mu);
		if (store_begin(&K.st, DB_READ, &tx) == STORE_OK) {
			store_rollback(tx);
			kcsd_notify("WATCHDOG=1");
		}
		pthread_mutex_lock(&wd.mu);
		clock_gettime(CLOCK_REALTIME, &t);
		t.tv_sec += (time_t)(wd.usec / 2 / 1000000);
		t.tv_nsec += (long)(wd.usec / 2 % 1000000) * 1000;
		if (t.tv_nsec >= 1000000000L) {
			t.tv_sec++;
			t.tv_nsec -= 1000000000L;
		}
		if (!wd.stop)
			pthread_cond_timedwait(&wd.cv, &wd.mu, &t);
	}
	pthread_mutex_unlock(&wd.mu);
	return NULL;
}

/* when systemd asks for it (WATCHDOG_USEC, for this process) */
void
kcsd_watchdog_start(void)
{
	const char *u = getenv("WATCHDOG_USEC"), *pid = getenv("WATCHDOG_PID");

	if (!u || !getenv("NOTIFY_SOCKET") || (pid && atol(pid) != (long)getpid()) || (wd.usec = atoll(u)) <= 0)
		return;
	wd.running = pthread_create(&wd.thread, NULL, watchdog, NULL) == 0;
}

void
kcsd_watchdog_stop(void)
{
	if (!wd.running)
		return;
	pthread_mutex_lock(&wd.mu);
	wd.stop = 1;
	pthread_cond_signal(&wd.cv);
	pthread_mutex_unlock(&wd.mu);
	pthread_join(wd.thread, NULL);
	wd.running = 0;
}
