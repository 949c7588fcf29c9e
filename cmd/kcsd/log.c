/* log.c: the request log, on stderr. Threads that write to one file at
 * once queue on it in the kernel, and the machine spends its time
 * switching between them; so lines are gathered, and one thread at a time
 * writes what has gathered. The thread that finds no writer becomes it:
 * it writes the lines gathered so far, its own among them, for a few
 * rounds; what is left after that is written by the next line's thread, or
 * by kcsd_log_flush, which the reaper calls four times a second and kcsd
 * calls as it stops. With no other request at the same time, a line is
 * written before its answer leaves, as a plain write would be. */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kcsd.h"

#define LOG_MAX (256 * 1024) /* gathered bytes; a line waits for room beyond this */
#define LOG_ROUNDS 4

static struct {
	pthread_mutex_t mu;
	pthread_cond_t room;
	char a[LOG_MAX], b[LOG_MAX];
	char *buf; /* gathering */
	size_t len;
	int writing;
} lg = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, { 0 }, { 0 }, lg.a, 0, 0 };

static void
write_all(const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(2, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return; /* stderr is gone: nothing else to tell */
		p += w;
		n -= (size_t)w;
	}
}

/* With lg.mu held and no other writer: write what has gathered. */
static void
drain(void)
{
	lg.writing = 1;
	for (int round = 0; lg.len && round < LOG_ROUNDS; round++) {
		char *out = lg.buf;
		size_t n = lg.len;

		lg.buf = out == lg.a ? lg.b : lg.a;
		lg.len = 0;
		pthread_cond_broadcast(&lg.room);
		pthread_mutex_unlock(&lg.mu);
		write_all(out, n);
		pthread_mutex_lock(&lg.mu);
	}
	lg.writing = 0;
	pthread_cond_broadcast(&lg.room);
}

void
kcsd_log(const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof line - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof line - 1) {
		n = sizeof line - 1;
		line[n - 1] = '\n';
	}
	pthread_mutex_lock(&lg.mu);
	while (lg.len + (size_t)n > LOG_MAX) {
		if (!lg.writing)
			drain();
		else
			pthread_cond_wait(&lg.room, &lg.mu);
	}
	memcpy(lg.buf + lg.len, line, (size_t)n);
	lg.len += (size_t)n;
	if (!lg.writing)
		drain();
	pthread_mutex_unlock(&lg.mu);
}

/* wait: for a writer at work to finish (else leave it the lines) */
void
kcsd_log_flush(int wait)
{
	pthread_mutex_lock(&lg.mu);
	while (wait && lg.writing)
		pthread_cond_wait(&lg.room, &lg.mu);
	if (!lg.writing)
		drain();
	pthread_mutex_unlock(&lg.mu);
}
