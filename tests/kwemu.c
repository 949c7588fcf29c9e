/* kcs-kwemu: emulated key writers under the real libusb code path.
 *
 *   kcs-kwemu [--capture FILE] [--report FILE] --writer SPEC [--writer SPEC]... -- COMMAND [ARG]...
 *   kcs-kwemu --new-key FILE | --public-key FILE
 *
 * It builds a umockdev testbed with one USB device per --writer, attaches a
 * handler of the usbdevfs ioctls to each device node, and runs COMMAND with
 * libumockdev-preload, so that the command's own libusb opens the devices
 * and its bulk transfers reach the writer's firmware side (lib/kwdev.c)
 * here. It exits with the command's status.
 *
 * SPEC is KEY=VALUE[,KEY=VALUE]...: serial, firmware (5.1.0), key (a file of
 * 64 hex digits: the Ed25519 seed), usb (VVVV:PPPP), slot (none, blank,
 * coded), chip (PCF7945, PCF7953), uid (hex), vin, number, pers, mileage,
 * unit (km, mi), fuel or battery (percent), stored (epoch seconds), busy (ms
 * of work per command, with keepalives), fault (drop, corrupt, delay or
 * unplug, optionally @COMMAND such as @key-read: once, on the first
 * execution of that command) and delay (ms, for the delay fault). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib.h>
#include <glib-unix.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <linux/usbdevice_fs.h>
#include <sodium.h>
#include <umockdev.h>

#include "kcs.h"

enum { F_NONE, F_DROP, F_CORRUPT, F_DELAY, F_UNPLUG };
static const char *const fault_names[] = { "none", "drop", "corrupt", "delay", "unplug" };

struct urb {
	UMockdevIoctlData *urb, *buf;
};

struct writer {
	struct kw_dev dev;
	unsigned devnum;
	uint16_t vid, pid;
	char node[32];
	UMockdevIoctlBase *handler;
	GQueue in;      /* IN URBs waiting for bytes */
	GQueue done;    /* URBs completed, to be reaped */
	GByteArray *to_host, *stage;
	int direct;     /* the device's output goes to the host at once (keepalives) */
	int held;       /* a reply is held back (busy, delay): requests wait */
	unsigned busy_ms, delay_ms, elapsed;
	int fault, fault_fired;
	uint16_t fault_cmd;
	int unplugged;
	UMockdevIoctlClient *holder; /* the program that claimed the interface */
	uint8_t job_data[256];        /* the last coding job's data, as the writer opened it */
	size_t job_n;
};

static struct writer *writers[8];
static size_t nwriters;
static FILE *capture;
static GMainLoop *loop;
static int child_status = -1;

static void
die(const char *fmt, const char *arg)
{
	fprintf(stderr, "kcs-kwemu: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\n");
	exit(2);
}

static void
record(const struct writer *w, const char *dir, const uint8_t *p, size_t n)
{
	if (!capture || !n)
		return;
	fprintf(capture, "%s %s ", w->dev.serial, dir);
	for (size_t i = 0; i < n; i++)
		fprintf(capture, "%02x", p[i]);
	fprintf(capture, "\n");
	fflush(capture);
}

static void
dev_out(void *ctx, const uint8_t *p, size_t n)
{
	struct writer *w = ctx;

	g_byte_array_append(w->direct ? w->to_host : w->stage, p, (guint)n);
}

/* bytes waiting for the host into its IN URBs */
static void
flush_in(struct writer *w)
{
	while (w->to_host->len && !g_queue_is_empty(&w->in)) {
		struct urb *u = g_queue_pop_head(&w->in);
		struct usbdevfs_urb *x = (struct usbdevfs_urb *)u->urb->data;
		guint n = w->to_host->len < (guint)x->buffer_length ? w->to_host->len : (guint)x->buffer_length;

		umockdev_ioctl_data_update(u->buf, 0, w->to_host->data, (gint)n);
		record(w, "<", w->to_host->data, n);
		g_byte_array_remove_range(w->to_host, 0, n);
		x->actual_length = (int)n;
		x->status = 0;
		g_queue_push_tail(&w->done, u);
	}
}

static void pump(struct writer *w);

static void
release(struct writer *w)
{
	g_byte_array_append(w->to_host, w->stage->data, w->stage->len);
	g_byte_array_set_size(w->stage, 0);
	w->held = 0;
	flush_in(w);
	pump(w);
}

static gboolean
tick(gpointer data)
{
	struct writer *w = data;
	unsigned total = w->fault == F_DELAY && w->fault_fired == 1 ? w->delay_ms : w->busy_ms;

	if (w->unplugged || !w->held)
		return G_SOURCE_REMOVE;
	w->elapsed += 100;
	if (w->elapsed >= total) {
		if (w->fault_fired == 1)
			w->fault_fired = 2;
		release(w);
		return G_SOURCE_REMOVE;
	}
	if (!(w->fault == F_DELAY && w->fault_fired == 1) && w->elapsed % 200 == 0) {
		w->direct = 1;
		kw_dev_keepalive(&w->dev, w->elapsed * 100 / total);
		w->direct = 0;
		flush_in(w);
	}
	return G_SOURCE_CONTINUE;
}

/* the writer is gone: the transfers in flight end with ENODEV, as the
 * kernel ends them; every later call fails with ENODEV */
static void
unplug(struct writer *w)
{
	struct urb *u;

	while ((u = g_queue_pop_head(&w->in))) {
		((struct usbdevfs_urb *)u->urb->data)->status = -ENODEV;
		((struct usbdevfs_urb *)u->urb->data)->actual_length = 0;
		g_queue_push_tail(&w->done, u);
	}
	w->unplugged = 1;
	g_byte_array_set_size(w->stage, 0);
	g_byte_array_set_size(w->to_host, 0);
	w->held = 0;
}

/* the device takes the requests it has, one at a time */
static void
pump(struct writer *w)
{
	while (!w->held && !w->unplugged) {
		unsigned long before = w->dev.replayed, refused = w->dev.refused;
		int fresh;

		if (!kw_dev_step(&w->dev))
			return;
		if (w->dev.job.n) {
			memcpy(w->job_data, w->dev.job.data, w->dev.job.n);
			w->job_n = w->dev.job.n;
		}
		fresh = w->dev.replayed == before && w->dev.refused == refused;
		if (fresh && w->fault && !w->fault_fired && (!w->fault_cmd || w->fault_cmd == w->dev.cur_cmd) &&
		    w->dev.cur_cmd != KW_HELLO) {
			w->fault_fired = 1;
			switch (w->fault) {
			case F_DROP:
				g_byte_array_set_size(w->stage, 0);
				continue;
			case F_CORRUPT:
				w->stage->data[w->stage->len - 1] ^= 0x5A; /* the data check */
				break;
			case F_DELAY:
				w->held = 1;
				w->elapsed = 0;
				g_timeout_add(100, tick, w);
				return;
			case F_UNPLUG:
				unplug(w);
				return;
			}
		} else if (fresh && w->busy_ms && w->dev.cur_cmd != KW_HELLO && w->dev.cur_cmd != KW_PING) {
			w->held = 1;
			w->elapsed = 0;
			g_timeout_add(100, tick, w);
			return;
		}
		release(w);
		return;
	}
}

static void
urb_free(gpointer p)
{
	struct urb *u = p;

	g_object_unref(u->urb);
	if (u->buf)
		g_object_unref(u->buf);
	g_free(u);
}

static void
replug(struct writer *w)
{
	g_queue_clear_full(&w->in, urb_free);
	g_queue_clear_full(&w->done, urb_free);
	g_byte_array_set_size(w->to_host, 0);
	g_byte_array_set_size(w->stage, 0);
	w->held = 0;
	w->unplugged = 0;
	kw_dev_reset(&w->dev);
}

static void
opened(UMockdevIoctlBase *h, UMockdevIoctlClient *c, gpointer data)
{
	struct writer *w = data;

	(void)h;
	(void)c;
	/* a program opens the writer: after an unplug, it is plugged in again */
	if (w->unplugged)
		replug(w);
}

static void
closed(UMockdevIoctlBase *h, UMockdevIoctlClient *c, gpointer data)
{
	struct writer *w = data;

	(void)h;
	if (w->holder && c != w->holder)
		return; /* another program, which the holder kept out */
	/* the program that used the writer is gone, and with it its session */
	w->holder = NULL;
	replug(w);
}

static gboolean
again(gpointer c)
{
	umockdev_ioctl_client_complete(c, -1, EAGAIN);
	g_object_unref(c);
	return G_SOURCE_REMOVE;
}

static gboolean
on_ioctl(UMockdevIoctlBase *h, UMockdevIoctlClient *c, gpointer data)
{
	struct writer *w = data;
	UMockdevIoctlData *arg = umockdev_ioctl_client_get_arg(c);
	gulong req = umockdev_ioctl_client_get_request(c);

	(void)h;
	if (w->unplugged && req != USBDEVFS_RELEASEINTERFACE &&
	    !((req == USBDEVFS_REAPURB || req == USBDEVFS_REAPURBNDELAY) && w->done.length)) {
		umockdev_ioctl_client_complete(c, -1, ENODEV);
		return TRUE;
	}
	switch (req) {
	case USBDEVFS_GET_CAPABILITIES: {
		UMockdevIoctlData *d = umockdev_ioctl_data_resolve(arg, 0, sizeof(guint32), NULL);

		*(guint32 *)d->data = USBDEVFS_CAP_BULK_CONTINUATION | USBDEVFS_CAP_NO_PACKET_SIZE_LIM |
		    USBDEVFS_CAP_REAP_AFTER_DISCONNECT | USBDEVFS_CAP_ZERO_PACKET;
		umockdev_ioctl_client_complete(c, 0, 0);
		g_object_unref(d);
		return TRUE;
	}
	case USBDEVFS_GETDRIVER:
		umockdev_ioctl_client_complete(c, -1, ENODATA); /* no kernel driver bound */
		return TRUE;
	case USBDEVFS_IOCTL: /* USBDEVFS_DISCONNECT: no kernel driver to detach */
		umockdev_ioctl_client_complete(c, -1, ENODATA);
		return TRUE;
	case USBDEVFS_DISCONNECT_CLAIM:
	case USBDEVFS_CLAIMINTERFACE:
		/* one program at a time, as usbfs: another one's claim is EBUSY */
		if (w->holder && w->holder != c) {
			umockdev_ioctl_client_complete(c, -1, EBUSY);
			return TRUE;
		}
		w->holder = c;
		umockdev_ioctl_client_complete(c, 0, 0);
		return TRUE;
	case USBDEVFS_RELEASEINTERFACE:
		if (w->holder == c)
			w->holder = NULL;
		umockdev_ioctl_client_complete(c, 0, 0);
		return TRUE;
	case USBDEVFS_CLEAR_HALT:
	case USBDEVFS_RESET:
	case USBDEVFS_RESETEP:
		umockdev_ioctl_client_complete(c, 0, 0);
		return TRUE;
	case USBDEVFS_SUBMITURB: {
		struct urb *u = g_new0(struct urb, 1);
		struct usbdevfs_urb *x;

		u->urb = umockdev_ioctl_data_resolve(arg, 0, sizeof(struct usbdevfs_urb), NULL);
		x = (struct usbdevfs_urb *)u->urb->data;
		if (x->type != USBDEVFS_URB_TYPE_BULK || (x->endpoint != 0x01 && x->endpoint != 0x81) ||
		    x->buffer_length <= 0) {
			urb_free(u);
			umockdev_ioctl_client_complete(c, -1, EINVAL);
			return TRUE;
		}
		u->buf = umockdev_ioctl_data_resolve(u->urb, G_STRUCT_OFFSET(struct usbdevfs_urb, buffer),
		    (gsize)x->buffer_length, NULL);
		if (x->endpoint == 0x01) {
			record(w, ">", u->buf->data, (size_t)x->buffer_length);
			/* what does not fit the receiver is lost, as on a device: the host sends it again */
			kw_rx_feed(&w->dev.rx, u->buf->data, (size_t)x->buffer_length);
			x->actual_length = x->buffer_length;
			x->status = 0;
			g_queue_push_tail(&w->done, u);
			umockdev_ioctl_client_complete(c, 0, 0);
			pump(w);
		} else {
			g_queue_push_tail(&w->in, u);
			umockdev_ioctl_client_complete(c, 0, 0);
			flush_in(w);
		}
		return TRUE;
	}
	case USBDEVFS_REAPURB:
	case USBDEVFS_REAPURBNDELAY: {
		struct urb *u = g_queue_pop_head(&w->done);
		UMockdevIoctlData *slot;

		if (!u) {
			/* answered a little later: the caller polls, and would spin */
			g_timeout_add(2, again, g_object_ref(c));
			return TRUE;
		}
		slot = umockdev_ioctl_data_resolve(arg, 0, sizeof(gpointer), NULL);
		umockdev_ioctl_data_set_ptr(slot, 0, u->urb);
		umockdev_ioctl_client_complete(c, 0, 0);
		g_object_unref(slot);
		urb_free(u);
		return TRUE;
	}
	case USBDEVFS_DISCARDURB: {
		gulong addr = *(gulong *)arg->data;

		for (GList *l = w->in.head; l; l = l->next) {
			struct urb *u = l->data;

			if (u->urb->client_addr != addr)
				continue;
			g_queue_delete_link(&w->in, l);
			((struct usbdevfs_urb *)u->urb->data)->status = -ENOENT;
			((struct usbdevfs_urb *)u->urb->data)->actual_length = 0;
			g_queue_push_tail(&w->done, u);
			umockdev_ioctl_client_complete(c, 0, 0);
			return TRUE;
		}
		umockdev_ioctl_client_complete(c, -1, EINVAL);
		return TRUE;
	}
	}
	return FALSE;
}

static void
read_seed(const char *path, uint8_t seed[32])
{
	char hex[80];
	FILE *f = fopen(path, "r");

	if (!f || !fgets(hex, sizeof hex, f))
		die("cannot read the key file %s", path);
	fclose(f);
	hex[strcspn(hex, "\r\n")] = '\0';
	if (strlen(hex) != 64 || kcs_hex_decode(hex, seed, 32) != 0)
		die("%s does not hold 64 hexadecimal digits", path);
}

static uint16_t
command_id(const char *name)
{
	char want[32];

	snprintf(want, sizeof want, "%s", name);
	for (char *p = want; *p; p++)
		if (*p == '-')
			*p = ' ';
	for (unsigned c = 1; c < 0x40; c++)
		if (kw_cmd_name((uint16_t)c) && strcmp(kw_cmd_name((uint16_t)c), want) == 0)
			return (uint16_t)c;
	die("no command %s", name);
	return 0;
}

static struct writer *
parse_writer(const char *spec)
{
	struct writer *w = g_new0(struct writer, 1);
	struct kw_key *k = &w->dev.key;
	char **kv = g_strsplit(spec, ",", -1);
	int slot = 1;

	snprintf(w->dev.serial, sizeof w->dev.serial, "KW-%04zu", nwriters + 1);
	snprintf(w->dev.model, sizeof w->dev.model, "KW-1");
	w->dev.fw[0] = 5, w->dev.fw[1] = 1, w->dev.fw[2] = 0, w->dev.hw = 1;
	randombytes_buf(w->dev.seed, sizeof w->dev.seed);
	w->vid = KW_USB_VID, w->pid = KW_USB_PID;
	w->delay_ms = 10000;
	k->chip = KW_CHIP_PCF7945;
	randombytes_buf(k->uid, 4);
	k->uid_len = 4;
	for (char **p = kv; *p && **p; p++) {
		char *v = strchr(*p, '=');

		if (!v)
			die("%s: KEY=VALUE expected", *p);
		*v++ = '\0';
		if (!strcmp(*p, "serial"))
			snprintf(w->dev.serial, sizeof w->dev.serial, "%s", v);
		else if (!strcmp(*p, "firmware")) {
			if (sscanf(v, "%u.%u.%u", &w->dev.fw[0], &w->dev.fw[1], &w->dev.fw[2]) < 2)
				die("firmware %s: MAJOR.MINOR.PATCH expected", v);
		} else if (!strcmp(*p, "key"))
			read_seed(v, w->dev.seed);
		else if (!strcmp(*p, "usb")) {
			if (kw_usb_id_parse(v, &w->vid, &w->pid) != KCS_OK)
				die("usb %s: VVVV:PPPP expected", v);
		} else if (!strcmp(*p, "slot"))
			slot = !strcmp(v, "none") ? 0 : !strcmp(v, "blank") ? 1 : !strcmp(v, "coded") ? 2 : -1;
		else if (!strcmp(*p, "chip"))
			k->chip = !strcmp(v, "PCF7953") ? KW_CHIP_PCF7953 : KW_CHIP_PCF7945;
		else if (!strcmp(*p, "uid")) {
			k->uid_len = strlen(v) / 2;
			if (k->uid_len < 4 || k->uid_len > 8 || kcs_hex_decode(v, k->uid, k->uid_len) != 0)
				die("uid %s: 8 to 16 hex digits expected", v);
		} else if (!strcmp(*p, "vin"))
			snprintf(k->vin, sizeof k->vin, "%s", v);
		else if (!strcmp(*p, "number"))
			k->number = (unsigned)atoi(v);
		else if (!strcmp(*p, "pers"))
			k->personalization = (unsigned)atoi(v);
		else if (!strcmp(*p, "mileage"))
			k->mileage = (uint32_t)strtoul(v, NULL, 10);
		else if (!strcmp(*p, "unit"))
			k->unit = !strcmp(v, "mi") ? KW_UNIT_MI : KW_UNIT_KM;
		else if (!strcmp(*p, "fuel") || !strcmp(*p, "battery")) {
			k->energy_kind = !strcmp(*p, "fuel") ? KW_ENERGY_FUEL : KW_ENERGY_BATTERY;
			k->energy = (unsigned)atoi(v);
		} else if (!strcmp(*p, "stored"))
			k->stored_at = (uint32_t)strtoul(v, NULL, 10);
		else if (!strcmp(*p, "busy"))
			w->busy_ms = (unsigned)atoi(v);
		else if (!strcmp(*p, "delay"))
			w->delay_ms = (unsigned)atoi(v);
		else if (!strcmp(*p, "fault")) {
			char *at = strchr(v, '@');

			if (at) {
				*at++ = '\0';
				w->fault_cmd = command_id(at);
			}
			for (int f = F_DROP; f <= F_UNPLUG; f++)
				if (!strcmp(v, fault_names[f]))
					w->fault = f;
			if (!w->fault)
				die("fault %s: drop, corrupt, delay or unplug expected", v);
		} else
			die("unknown writer setting %s", *p);
	}
	g_strfreev(kv);
	if (slot < 0)
		die("%s", "slot: none, blank or coded expected");
	k->present = slot > 0;
	k->coded = slot == 2;
	if (k->coded && (strlen(k->vin) != 17 || k->number < 1 || k->number > 10))
		die("%s", "a coded key needs vin= (17 characters) and number= (1 to 10)");
	if (k->coded && !k->personalization)
		k->personalization = k->number <= 4 ? k->number : 1;
	w->dev.out = dev_out;
	w->dev.ctx = w;
	kw_dev_start(&w->dev);
	w->to_host = g_byte_array_new();
	w->stage = g_byte_array_new();
	return w;
}

static void
plug(UMockdevTestbed *tb, struct writer *w, unsigned port)
{
	/* device, configuration, vendor interface, bulk OUT 0x01, bulk IN 0x81 */
	char desc[200], dev[2048];

	snprintf(desc, sizeof desc,
	    "1201" "0002" "000000" "40" "%02x%02x" "%02x%02x" "0001" "010203" "01" /* device: USB 2.0, IDs, strings */
	    "0902" "2000" "01" "01" "00" "80" "32"                                 /* one configuration, 100 mA */
	    "0904" "00" "00" "02" "ff" "00" "00" "00"                              /* interface 0: vendor class */
	    "0705" "01" "02" "0002" "00"                                           /* bulk OUT 0x01, 512 bytes */
	    "0705" "81" "02" "0002" "00",                                          /* bulk IN 0x81 */
	    w->vid & 0xFF, w->vid >> 8, w->pid & 0xFF, w->pid >> 8);
	w->devnum = port + 1; /* address 1 is the root hub's */
	snprintf(w->node, sizeof w->node, "/dev/bus/usb/001/%03u", w->devnum);
	w->handler = umockdev_ioctl_base_new();
	g_signal_connect(w->handler, "handle-ioctl", G_CALLBACK(on_ioctl), w);
	g_signal_connect(w->handler, "client-connected", G_CALLBACK(opened), w);
	g_signal_connect(w->handler, "client-vanished", G_CALLBACK(closed), w);
	if (!umockdev_testbed_attach_ioctl(tb, w->node, w->handler, NULL))
		die("cannot attach to %s", w->node);
	snprintf(dev, sizeof dev,
	    "P: /devices/pci0000:00/0000:00:14.0/usb1/1-%u\n"
	    "N: bus/usb/001/%03u\n"
	    "E: SUBSYSTEM=usb\nE: DEVTYPE=usb_device\nE: DRIVER=usb\n"
	    "E: DEVNAME=/dev/bus/usb/001/%03u\nE: BUSNUM=001\nE: DEVNUM=%03u\n"
	    "E: PRODUCT=%x/%x/100\n"
	    "A: busnum=1\\n\nA: devnum=%u\\n\nA: bConfigurationValue=1\\n\nA: speed=480\\n\n"
	    "A: idVendor=%04x\\n\nA: idProduct=%04x\\n\nA: serial=%s\\n\n"
	    "A: manufacturer=kcs\\n\nA: product=Key Writer (emulated)\\n\n"
	    "H: descriptors=%s\n",
	    port, w->devnum, w->devnum, w->devnum, w->vid, w->pid, w->devnum, w->vid, w->pid,
	    w->dev.serial, desc);
	if (!umockdev_testbed_add_from_string(tb, dev, NULL))
		die("cannot add the device %s", w->node);
}

static GPid child_pid;

/* a signal to the emulator goes to the command; it exits when that does,
 * and the testbed's directory goes with it */
static gboolean
forward(gpointer sig)
{
	kill(child_pid, GPOINTER_TO_INT(sig));
	return G_SOURCE_CONTINUE;
}

static void
child_exited(GPid pid, gint status, gpointer data)
{
	(void)data;
	child_status = status;
	g_spawn_close_pid(pid);
	g_main_loop_quit(loop);
}

static void
report(const char *path)
{
	cJSON *o = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(o, "writers");
	FILE *f;

	for (size_t i = 0; i < nwriters; i++) {
		struct writer *w = writers[i];
		cJSON *x = cJSON_CreateObject(), *ex = cJSON_AddObjectToObject(x, "executed");

		cJSON_AddStringToObject(x, "serial", w->dev.serial);
		for (unsigned c = 1; c < 0x40; c++)
			if (kw_cmd_name((uint16_t)c))
				cJSON_AddNumberToObject(ex, kw_cmd_name((uint16_t)c), (double)w->dev.executed[c]);
		cJSON_AddNumberToObject(x, "replayed", (double)w->dev.replayed);
		cJSON_AddNumberToObject(x, "refused", (double)w->dev.refused);
		cJSON_AddNumberToObject(x, "bad_frames", (double)(w->dev.rx.bad_crc + w->dev.rx.skipped));
		cJSON_AddBoolToObject(x, "fault_fired", w->fault_fired != 0);
		if (w->job_n) {
			char hex[2 * sizeof w->job_data + 1];

			kcs_hex_encode(w->job_data, w->job_n, hex);
			cJSON_AddStringToObject(x, "job_data", hex);
		}
		cJSON_AddItemToArray(arr, x);
	}
	if (!(f = fopen(path, "w")))
		die("cannot write %s", path);
	kcs_json_print(f, o);
	fclose(f);
	cJSON_Delete(o);
}

static void
usage(void)
{
	fprintf(stderr, "usage: kcs-kwemu [--capture FILE] [--report FILE] --writer SPEC... -- COMMAND [ARG]...\n"
	    "       kcs-kwemu --new-key FILE | --public-key FILE\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	UMockdevTestbed *tb;
	const char *report_path = NULL, *pre;
	char **child;
	GError *err = NULL;
	GPid pid;
	int i;

	if (sodium_init() < 0)
		die("%s", "libsodium cannot start");
	if (argc == 3 && (!strcmp(argv[1], "--new-key") || !strcmp(argv[1], "--public-key"))) {
		uint8_t seed[32], pk[32], sk[64];
		char hex[65];

		if (!strcmp(argv[1], "--new-key")) {
			int fd = open(argv[2], O_WRONLY | O_CREAT | O_EXCL, 0600);

			randombytes_buf(seed, sizeof seed);
			kcs_hex_encode(seed, 32, hex);
			if (fd < 0 || dprintf(fd, "%s\n", hex) < 0 || close(fd) != 0)
				die("cannot write %s", argv[2]);
		}
		read_seed(argv[2], seed);
		crypto_sign_seed_keypair(pk, sk, seed);
		kcs_hex_encode(pk, 32, hex);
		printf("%s\n", hex);
		return 0;
	}
	for (i = 1; i < argc && strcmp(argv[i], "--"); i++) {
		if (i + 1 >= argc)
			usage();
		if (!strcmp(argv[i], "--writer") && nwriters < sizeof writers / sizeof writers[0])
			writers[nwriters] = parse_writer(argv[++i]), nwriters++;
		else if (!strcmp(argv[i], "--capture")) {
			if (!(capture = fopen(argv[++i], "a")))
				die("cannot write %s", argv[i]);
		} else if (!strcmp(argv[i], "--report"))
			report_path = argv[++i];
		else
			usage();
	}
	if (i + 1 >= argc)
		usage();
	child = argv + i + 1;

	tb = umockdev_testbed_new();
	for (size_t k = 0; k < nwriters; k++)
		plug(tb, writers[k], (unsigned)k + 1);
	/* the child's libusb, under umockdev; a sanitizer runtime need not come first */
	pre = g_getenv("LD_PRELOAD");
	g_setenv("LD_PRELOAD", pre && *pre ? g_strconcat("libumockdev-preload.so.0 ", pre, NULL)
	    : "libumockdev-preload.so.0", TRUE);
	pre = g_getenv("ASAN_OPTIONS");
	g_setenv("ASAN_OPTIONS", pre && *pre ? g_strconcat(pre, ":verify_asan_link_order=0", NULL)
	    : "verify_asan_link_order=0", TRUE);
	loop = g_main_loop_new(NULL, FALSE);
	if (!g_spawn_async(NULL, child, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD |
	    G_SPAWN_CHILD_INHERITS_STDIN, NULL, NULL, &pid, &err))
		die("%s", err->message);
	child_pid = pid;
	g_child_watch_add(pid, child_exited, NULL);
	g_unix_signal_add(SIGTERM, forward, GINT_TO_POINTER(SIGTERM));
	g_unix_signal_add(SIGINT, forward, GINT_TO_POINTER(SIGINT));
	g_unix_signal_add(SIGHUP, forward, GINT_TO_POINTER(SIGHUP));
	g_main_loop_run(loop);
	if (report_path)
		report(report_path);
	for (size_t k = 0; k < nwriters; k++)
		umockdev_testbed_detach_ioctl(tb, writers[k]->node, NULL);
	g_object_unref(tb);
	if (WIFEXITED(child_status))
		return WEXITSTATUS(child_status);
	return 128 + (WIFSIGNALED(child_status) ? WTERMSIG(child_status) : 0);
}
