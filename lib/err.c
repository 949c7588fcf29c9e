/* err.c: the one error path of every kcs binary. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "kcs.h"

static _Thread_local struct {
	int code;
	char field[64];
	char name[48];
	char msg[512];
} err;

static const char *prog = "kcs";

int
kcs_fail(int code, const char *field, const char *fmt, ...)
{
	va_list ap;
	char msg[sizeof err.msg], fld[sizeof err.field];

	/* formatted aside first: the arguments may be the current message */
	snprintf(fld, sizeof fld, "%s", field ? field : "");
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	err.code = code;
	memcpy(err.field, fld, sizeof fld);
	memcpy(err.msg, msg, sizeof msg);
	err.name[0] = '\0';
	return code;
}

int kcs_errcode(void) { return err.code; }
const char *kcs_errmsg(void) { return err.msg; }
const char *kcs_errfield(void) { return err.field; }
const char *kcs_errname(void) { return err.name; }
const char *kcs_prog(void) { return prog; }

void
kcs_seterrname(const char *name)
{
	snprintf(err.name, sizeof err.name, "%s", name ? name : "");
}

void
kcs_setprog(const char *argv0)
{
	const char *s = strrchr(argv0, '/');

	prog = s ? s + 1 : argv0;
}

int
kcs_usage_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err.msg, sizeof err.msg, fmt, ap);
	va_end(ap);
	err.code = KCS_EUSAGE;
	err.field[0] = '\0';
	return KCS_EUSAGE;
}

int
kcs_finish(int rc)
{
	/* A full disk or a closed pipe is an error, not silence. */
	if (fflush(stdout) != 0 || ferror(stdout)) {
		if (rc == KCS_OK)
			rc = kcs_fail(KCS_EINTERNAL, NULL, "writing standard output: %s",
			    strerror(errno ? errno : EIO));
	}
	if (rc != KCS_OK) {
		if (err.msg[0] == '\0')
			snprintf(err.msg, sizeof err.msg, "failed");
		if (err.field[0])
			fprintf(stderr, "%s: %s: %s\n", prog, err.field, err.msg);
		else
			fprintf(stderr, "%s: %s\n", prog, err.msg);
		if (rc == KCS_EUSAGE)
			fprintf(stderr, "Try '%s --help' for more information.\n", prog);
	}
	return rc;
}
