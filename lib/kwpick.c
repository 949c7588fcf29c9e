/* kwpick.c: what the tools that use a key writer share: the writers' USB
 * ID (--usb-id, $KCS_KEYWRITER_USB_ID, the config's keywriter_usb_id, the
 * default), and the one writer to work with (--device's, or the only one
 * attached), opened, with the handshake done. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kcs.h"

int
kw_pick_id(struct kw_pick *p, const char *flag)
{
	struct kcs_conf conf = { 0 };
	char path[1024];
	const char *v = flag, *env = getenv("KCS_KEYWRITER_USB_ID");
	int rc = KCS_OK;

	p->vid = KW_USB_VID;
	p->pid = KW_USB_PID;
	if (!v && env && *env)
		v = env;
	if (!v && kcs_path_config(path, sizeof path) == KCS_OK && kcs_conf_load(&conf, path, 0) == KCS_OK)
		v = kcs_conf_get(&conf, "keywriter_usb_id");
	if (v)
		rc = kw_usb_id_parse(v, &p->vid, &p->pid);
	kcs_conf_free(&conf);
	if (rc == KCS_OK && kw_usb_test_id(p->vid, p->pid))
		fprintf(stderr, "%s: warning: USB ID %04x:%04x is a pid.codes test ID, for development "
		    "only: a writer that is sold has its own ID\n", kcs_prog(), p->vid, p->pid);
	return rc;
}

int
kw_pick_serial(const char *s)
{
	if (s && (!*s || strlen(s) > 32 ||
	    strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-") != strlen(s)))
		return kcs_fail(KCS_EUSAGE, "device", "a serial number is 1 to 32 letters, digits and '-'");
	return KCS_OK;
}

int
kw_pick_timeout(struct kw_pick *p, const char *arg)
{
	char *end;
	double s = strtod(arg, &end);

	if (end == arg || *end || !(s >= 0.1 && s <= 600))
		return kcs_fail(KCS_EUSAGE, "timeout", "is a number of seconds from 0.1 to 600");
	p->txn_ms = (int)(s * 1000);
	return KCS_OK;
}

void
kw_pick_host(const struct kw_pick *p, struct kw_usb *u, struct kw_host *h)
{
	struct kw_io io;

	kw_usb_io(u, &io);
	kw_host_init(h, &io, u->where);
	if (p->txn_ms)
		h->txn_ms = p->txn_ms;
	h->progress = p->progress;
}

int
kw_pick_open(const struct kw_pick *p, struct kw_usb *u, struct kw_host *h)
{
	struct kw_usb_found found[16];
	char why[512] = "";
	size_t n;
	int rc, last = KCS_OK;

	if ((rc = kw_usb_find(p->vid, p->pid, found, 16, &n)) != KCS_OK)
		return rc;
	if (n == 0)
		return kcs_fail(KCS_EUNREACHABLE, "device", "no key writer is attached (USB ID %04x:%04x): "
		    "plug it in; kcs-keywriter doctor checks why it is not found", p->vid, p->pid);
	if (n > 1 && !p->device)
		return kcs_fail(KCS_EUSAGE, "device", "%zu key writers are attached: choose one with --device SERIAL "
		    "(kcs-keywriter list shows them)", n);
	for (size_t i = 0; i < n; i++) {
		if ((rc = kw_usb_open(u, found[i].bus, found[i].addr)) == KCS_OK) {
			kw_pick_host(p, u, h);
			if ((rc = kw_host_hello(h)) != KCS_OK)
				kw_usb_close(u);
			else if (!p->device || strcmp(p->device, h->info.serial) == 0)
				return KCS_OK;
			else {
				kw_usb_close(u);
				continue;
			}
		}
		if (!p->device)
			return rc;
		last = rc;
		snprintf(why, sizeof why, "%s", kcs_errmsg());
	}
	if (last != KCS_OK)
		return kcs_fail(last, "device", "no key writer with serial %s answered (%s)", p->device, why);
	return kcs_fail(KCS_EUNREACHABLE, "device", "no attached key writer has serial %s "
	    "(kcs-keywriter list shows them)", p->device);
}

static int progress_shown;

void
kw_progress(void *ctx, uint16_t cmd, unsigned percent)
{
	(void)ctx;
	fprintf(stderr, "\r\033[Kwriter: %s %u%%", kw_cmd_name(cmd) ? kw_cmd_name(cmd) : "working", percent);
	progress_shown = 1;
}

void
kw_progress_step(const char *what)
{
	if (!kcs_is_tty(2))
		return;
	fprintf(stderr, "\r\033[K%s", what);
	progress_shown = 1;
}

void
kw_progress_done(void)
{
	if (progress_shown)
		fputs("\r\033[K", stderr);
	progress_shown = 0;
}
