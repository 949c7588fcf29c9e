/* kcs-keywriter: finds, identifies and reads the Key Writers attached over
 * USB (kcs-keywriter(1), kcs-keywriter-protocol(7)). */
#include <dirent.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "kcs.h"

static const struct kcs_command commands[] = {
	{ "list", NULL, 0, "every attached writer: serial, firmware, protocol, bus and address (JSON lines)" },
	{ "info", "[--public-key HEX]", 0,
	    "the writer's handshake and its attestation over a fresh nonce, and whether\n"
	    "kcsd has it registered to you (when you are logged in)" },
	{ "read", NULL, 0, "the key in the writer's slot, as one JSON object" },
	{ "doctor", NULL, 0, "check what keeps a writer from working here, and print the fix (JSON lines)" },
	{ NULL, NULL, 0, NULL }
};

static struct {
	const char *url, *public_key;
} opt;
static struct kw_pick pick;

static void
usage(void)
{
	fputs("usage: kcs-keywriter [--device SERIAL] [--usb-id VVVV:PPPP] [--timeout SECONDS] COMMAND\n\n"
	    "Commands:\n", stdout);
	kcs_command_help(stdout, commands);
	fputs("\n"
	    "A writer needs firmware 5 or later. With several writers attached, --device\n"
	    "chooses one by its serial number.\n"
	    "\n"
	    "Options:\n"
	    "      --device SERIAL     the writer with this serial number\n"
	    "      --usb-id VVVV:PPPP  the writers' USB vendor and product ID (default:\n"
	    "                          $KCS_KEYWRITER_USB_ID, the config's keywriter_usb_id, 1209:0001)\n"
	    "      --timeout SECONDS   how long a writer may stay silent (default 3)\n"
	    "      --public-key HEX    info: check the attestation against this key (64 hex digits)\n"
	    "      --url URL           kcsd's URL, for info (default: the session's)\n"
	    "  -h, --help              show this help\n"
	    "  -V, --version           show the version\n"
	    "\n"
	    "Exit status: 0 done, 1 refused (no key in the slot, firmware too old, the\n"
	    "attestation does not verify, doctor found a problem), 2 usage, 3 invalid input,\n"
	    "4 no permission on the device, 5 no writer or it does not answer, 6 internal\n"
	    "failure (kcs(7)).\n", stdout);
}

static void
add_info(cJSON *o, const struct kw_host *h, const struct kw_usb *u)
{
	char fw[16];

	cJSON_AddStringToObject(o, "serial", h->info.serial);
	cJSON_AddStringToObject(o, "model", h->info.model);
	snprintf(fw, sizeof fw, "%u.%u.%u", h->info.fw[0], h->info.fw[1], h->info.fw[2]);
	cJSON_AddStringToObject(o, "firmware", fw);
	cJSON_AddNumberToObject(o, "protocol", h->info.proto);
	cJSON_AddNumberToObject(o, "hardware", h->info.hw);
	cJSON_AddNumberToObject(o, "bus", u->bus);
	cJSON_AddNumberToObject(o, "address", u->addr);
}

static int
cmd_list(void)
{
	struct kw_usb_found found[16];
	size_t n;
	int rc;

	if ((rc = kw_usb_find(pick.vid, pick.pid, found, 16, &n)) != KCS_OK)
		return rc;
	if (n == 0 && kcs_is_tty(1))
		fprintf(stderr, "%s: no key writer is attached (USB ID %04x:%04x)\n", kcs_prog(), pick.vid, pick.pid);
	for (size_t i = 0; i < n; i++) {
		struct kw_usb u;
		struct kw_host h;
		cJSON *o = cJSON_CreateObject();

		if ((rc = kw_usb_open(&u, found[i].bus, found[i].addr)) == KCS_OK) {
			kw_pick_host(&pick, &u, &h);
			if ((rc = kw_host_hello(&h)) == KCS_OK) {
				add_info(o, &h, &u);
				rc = kw_host_usable(&h);
			}
			kw_usb_close(&u);
		}
		if (!cJSON_GetObjectItem(o, "bus")) {
			cJSON_AddNumberToObject(o, "bus", found[i].bus);
			cJSON_AddNumberToObject(o, "address", found[i].addr);
		}
		cJSON_AddBoolToObject(o, "usable", rc == KCS_OK);
		if (rc != KCS_OK)
			cJSON_AddStringToObject(o, "problem", kcs_errmsg());
		kcs_print(o);
		cJSON_Delete(o);
	}
	return KCS_OK;
}

/* the public key kcsd registered for this serial to the logged-in locksmith:
 * 1 found, 0 not registered to them, -1 unknown (note says why) */
static int
registered_key(const char *serial, uint8_t pk[32], char *note, size_t cap)
{
	struct kcs_client cl = { 0 };
	cJSON *res = NULL, *it;
	int found = -1;

	if (kcs_client_open(&cl, opt.url) != KCS_OK || kcs_client_session(&cl) != KCS_OK ||
	    kcs_call(&cl, KCS_MY_KEYWRITERS, NULL, NULL, &res) != KCS_OK) {
		snprintf(note, cap, "%s", kcs_errmsg());
		kcs_client_close(&cl);
		return -1;
	}
	found = 0;
	cJSON_ArrayForEach(it, cJSON_GetObjectItem(res, "keywriters")) {
		const char *s = kcs_json_str(it, "serial"), *k = kcs_json_str(it, "public_key");

		if (s && k && strcmp(s, serial) == 0 && strlen(k) == 64 && kcs_hex_decode(k, pk, 32) == 0)
			found = 1;
	}
	cJSON_Delete(res);
	kcs_client_close(&cl);
	return found;
}

static int
cmd_info(void)
{
	struct kw_usb u;
	struct kw_host h;
	uint8_t nonce[KW_NONCE], want[32], pk[32], fw_hash[32], sig[64];
	char hex[129], note[512] = "";
	int rc, reg = -1;
	cJSON *o, *arr;

	if (opt.public_key && (strlen(opt.public_key) != 64 || kcs_hex_decode(opt.public_key, want, 32) != 0))
		return kcs_fail(KCS_EINVALID, "public_key", "is 64 hexadecimal digits");
	if ((rc = kw_pick_open(&pick, &u, &h)) != KCS_OK)
		return rc;
	if ((rc = kw_host_usable(&h)) != KCS_OK)
		goto out;
	if (!opt.public_key) {
		reg = registered_key(h.info.serial, want, note, sizeof note); /* a failed look-up: in the answer */
	}
	randombytes_buf(nonce, sizeof nonce);
	rc = kw_host_attest(&h, nonce, opt.public_key || reg == 1 ? want : NULL, pk, fw_hash, sig);
	kw_progress_done();
	if (rc != KCS_OK)
		goto out;
	o = cJSON_CreateObject();
	add_info(o, &h, &u);
	cJSON_AddNumberToObject(o, "max_data", h.info.max_payload);
	arr = cJSON_AddArrayToObject(o, "commands");
	for (size_t i = 0; i < h.info.ncmds; i++)
		if (kw_cmd_name(h.info.cmds[i]))
			cJSON_AddItemToArray(arr, cJSON_CreateString(kw_cmd_name(h.info.cmds[i])));
	kcs_hex_encode(pk, 32, hex);
	cJSON_AddStringToObject(o, "public_key", hex);
	kcs_hex_encode(fw_hash, 32, hex);
	cJSON_AddStringToObject(o, "firmware_hash", hex);
	cJSON_AddStringToObject(o, "attestation", opt.public_key ? "verified against --public-key"
	    : reg == 1 ? "verified against the registered key" : "verified against the writer's own key only");
	if (!opt.public_key) {
		if (reg < 0) {
			cJSON_AddNullToObject(o, "registered");
			cJSON_AddStringToObject(o, "registration", note);
		} else
			cJSON_AddBoolToObject(o, "registered", reg == 1);
	}
	rc = kcs_print(o);
	cJSON_Delete(o);
out:
	kw_usb_close(&u);
	return rc;
}

static int
cmd_read(void)
{
	struct kw_usb u;
	struct kw_host h;
	struct kw_frame r;
	cJSON *o = NULL;
	char iso[21];
	int rc;

	if ((rc = kw_pick_open(&pick, &u, &h)) != KCS_OK)
		return rc;
	rc = kw_host_usable(&h);
	if (rc == KCS_OK)
		rc = kw_host_call(&h, KW_KEY_READ, NULL, 0, &r);
	kw_progress_done();
	if (rc != KCS_OK)
		goto out;
	if (!(o = kw_key_json(&r))) {
		rc = kcs_errcode();
		goto out;
	}
	cJSON_AddStringToObject(o, "writer", h.info.serial);
	kcs_time_iso(time(NULL), iso);
	cJSON_AddStringToObject(o, "read_at", iso);
	rc = kcs_print(o);
out:
	cJSON_Delete(o);
	kw_usb_close(&u);
	return rc;
}

/* doctor: one JSON line per check */
static int doctor_bad;

static void
check(const char *name, int ok, const char *detail, const char *fix)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "check", name);
	cJSON_AddBoolToObject(o, "ok", ok);
	cJSON_AddStringToObject(o, "detail", detail);
	if (!ok && fix)
		cJSON_AddStringToObject(o, "fix", fix);
	kcs_print(o);
	cJSON_Delete(o);
	doctor_bad |= !ok;
}

/* a rules file that gives the seat's user this ID: its path, and whether
 * it also keeps ModemManager away */
static int
find_rule(char *path, size_t cap, int *mm)
{
	const char *dirs = getenv("KCS_UDEV_RULES_DIRS");
	char list[1024], vid[32], pid[32];

	snprintf(list, sizeof list, "%s", dirs ? dirs
	    : "/etc/udev/rules.d:/run/udev/rules.d:/usr/local/lib/udev/rules.d:/usr/lib/udev/rules.d:/lib/udev/rules.d");
	snprintf(vid, sizeof vid, "{idVendor}==\"%04x\"", pick.vid);
	snprintf(pid, sizeof pid, "{idProduct}==\"%04x\"", pick.pid);
	for (char *save, *d = strtok_r(list, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
		DIR *dir = opendir(d);
		struct dirent *e;

		while (dir && (e = readdir(dir))) {
			char p[PATH_MAX], *text = NULL;
			size_t len;
			FILE *f;

			if (!strstr(e->d_name, ".rules"))
				continue;
			snprintf(p, sizeof p, "%s/%s", d, e->d_name);
			if (!(f = fopen(p, "r")))
				continue;
			if (kcs_read_all(f, &text, &len, 1 << 20) == KCS_OK && strstr(text, vid) && strstr(text, pid) &&
			    strstr(text, "uaccess")) {
				*mm = strstr(text, "ID_MM_DEVICE_IGNORE") != NULL;
				snprintf(path, cap, "%s", p);
				free(text);
				fclose(f);
				closedir(dir);
				return 1;
			}
			free(text);
			fclose(f);
		}
		if (dir)
			closedir(dir);
	}
	return 0;
}

/* the program that has this device node open, if any */
static int
holder(const char *node, char *out, size_t cap)
{
	DIR *proc = opendir("/proc");
	struct dirent *e;
	int found = 0;

	while (proc && !found && (e = readdir(proc))) {
		char dir[300], link[PATH_MAX], p[600];
		DIR *fds;
		struct dirent *fd;

		if (strspn(e->d_name, "0123456789") != strlen(e->d_name) || atoi(e->d_name) == getpid())
			continue;
		snprintf(dir, sizeof dir, "/proc/%s/fd", e->d_name);
		if (!(fds = opendir(dir)))
			continue;
		while (!found && (fd = readdir(fds))) {
			ssize_t n;

			snprintf(p, sizeof p, "%s/%s", dir, fd->d_name);
			if ((n = readlink(p, link, sizeof link - 1)) > 0) {
				link[n] = '\0';
				if (strcmp(link, node) == 0) {
					char comm[64] = "?";
					FILE *f;

					snprintf(p, sizeof p, "/proc/%s/comm", e->d_name);
					if ((f = fopen(p, "r"))) {
						if (fgets(comm, sizeof comm, f))
							comm[strcspn(comm, "\n")] = '\0';
						fclose(f);
					}
					snprintf(out, cap, "%s (pid %s)", comm, e->d_name);
					found = 1;
				}
			}
		}
		closedir(fds);
	}
	if (proc)
		closedir(proc);
	return found;
}

static int
modem_manager(void)
{
	DIR *proc = opendir("/proc");
	struct dirent *e;
	int found = 0;

	while (proc && !found && (e = readdir(proc))) {
		char p[300], comm[64];
		FILE *f;

		if (strspn(e->d_name, "0123456789") != strlen(e->d_name))
			continue;
		snprintf(p, sizeof p, "/proc/%s/comm", e->d_name);
		if ((f = fopen(p, "r"))) {
			if (fgets(comm, sizeof comm, f) && strcmp(comm, "ModemManager\n") == 0)
				found = 1;
			fclose(f);
		}
	}
	if (proc)
		closedir(proc);
	return found;
}

static int
cmd_doctor(void)
{
	struct kw_usb_found found[16];
	char rule[PATH_MAX], msg[1024], fix[1024];
	const char *base;
	size_t n;
	int mm = 0, rc;

	snprintf(fix, sizeof fix, "sudo install -m 644 70-kcs-keywriter.rules /etc/udev/rules.d/ && "
	    "sudo udevadm control --reload && sudo udevadm trigger --subsystem-match=usb "
	    "(the file is installed by make install under the udev rules directory)");
	if (!find_rule(rule, sizeof rule, &mm))
		snprintf(msg, sizeof msg, "no udev rule gives the seat's user access to USB ID %04x:%04x", pick.vid, pick.pid),
		    check("udev rule", 0, msg, fix);
	else if ((base = strrchr(rule, '/') + 1, atoi(base) >= 73 || !(base[0] >= '0' && base[0] <= '9')))
		snprintf(msg, sizeof msg, "%s sets uaccess too late: its name must start with a number below 73", rule),
		    snprintf(fix, sizeof fix, "rename %s to 70-kcs-keywriter.rules, then sudo udevadm control --reload "
		    "&& sudo udevadm trigger --subsystem-match=usb", rule),
		    check("udev rule", 0, msg, fix);
	else
		snprintf(msg, sizeof msg, "%s gives the seat's user access", rule), check("udev rule", 1, msg, NULL);
	if (modem_manager() && !mm)
		check("ModemManager", 0, "ModemManager runs and no udev rule tells it to leave the writer alone",
		    "add ENV{ID_MM_DEVICE_IGNORE}=\"1\" to the writer's udev rule (70-kcs-keywriter.rules has it)");
	else
		check("ModemManager", 1, modem_manager() ? "ModemManager runs; the udev rule keeps it away"
		    : "ModemManager does not run", NULL);
	if ((rc = kw_usb_find(pick.vid, pick.pid, found, 16, &n)) != KCS_OK) {
		check("USB", 0, kcs_errmsg(), "check that the machine has USB and that /dev/bus/usb exists");
		return KCS_EREFUSED;
	}
	snprintf(msg, sizeof msg, "%zu writer%s attached with USB ID %04x:%04x", n, n == 1 ? "" : "s", pick.vid, pick.pid);
	snprintf(fix, sizeof fix, "plug the writer in; lsusb -d %04x:%04x should list it; if not, try another "
	    "cable or port", pick.vid, pick.pid);
	check("attached", n > 0, msg, fix);
	for (size_t i = 0; i < n; i++) {
		struct kw_usb u;
		struct kw_host h;
		char name[64], node[64], who[128];

		snprintf(name, sizeof name, "writer at bus %u address %u", found[i].bus, found[i].addr);
		snprintf(node, sizeof node, "/dev/bus/usb/%03u/%03u", found[i].bus, found[i].addr);
		if ((rc = kw_usb_open(&u, found[i].bus, found[i].addr)) != KCS_OK) {
			if (rc == KCS_EPERM)
				snprintf(fix, sizeof fix, "install the udev rule (see the check above), unplug the writer and "
				    "plug it in again; meanwhile: sudo setfacl -m u:$USER:rw %s", node);
			else if (holder(node, who, sizeof who))
				snprintf(fix, sizeof fix, "close %s, which holds %s", who, node);
			else if (strstr(kcs_errmsg(), "another program holds"))
				snprintf(fix, sizeof fix, "close the program that uses the writer: another kcs-keywriter, "
				    "the maker's tool, a virtual machine with USB passed through");
			else
				snprintf(fix, sizeof fix, "unplug the writer and plug it in again");
			check(name, 0, kcs_errmsg(), fix);
			continue;
		}
		kw_pick_host(&pick, &u, &h);
		if ((rc = kw_host_hello(&h)) != KCS_OK)
			check(name, 0, kcs_errmsg(), "unplug the writer and plug it in again; try another cable or port");
		else if ((rc = kw_host_usable(&h)) != KCS_OK)
			check(name, 0, kcs_errmsg(), "update the writer's firmware with the maker's updater, then run "
			    "kcs-keywriter info");
		else {
			snprintf(msg, sizeof msg, "%s answers: firmware %u.%u.%u, protocol %u", h.info.serial,
			    h.info.fw[0], h.info.fw[1], h.info.fw[2], h.info.proto);
			check(name, 1, msg, NULL);
		}
		kw_usb_close(&u);
	}
	return doctor_bad ? kcs_fail(KCS_EREFUSED, NULL, "doctor found a problem: see the fix above") : KCS_OK;
}

static int
run(int argc, char **argv)
{
	enum { O_DEVICE = 256, O_USB, O_TIMEOUT, O_PUBKEY, O_URL };
	static const struct option opts[] = {
		{ "device", required_argument, NULL, O_DEVICE }, { "usb-id", required_argument, NULL, O_USB },
		{ "timeout", required_argument, NULL, O_TIMEOUT }, { "public-key", required_argument, NULL, O_PUBKEY },
		{ "url", required_argument, NULL, O_URL },
		{ "help", no_argument, NULL, 'h' }, { "version", no_argument, NULL, 'V' }, { NULL, 0, NULL, 0 }
	};
	const char *usb = NULL, *arg = NULL;
	const struct kcs_command *cmd;
	int c, rc;

	while ((c = getopt_long(argc, argv, "hV", opts, NULL)) != -1) {
		switch (c) {
		case O_DEVICE: pick.device = optarg; break;
		case O_USB: usb = optarg; break;
		case O_PUBKEY: opt.public_key = optarg; break;
		case O_URL: opt.url = optarg; break;
		case O_TIMEOUT:
			if ((rc = kw_pick_timeout(&pick, optarg)) != KCS_OK)
				return rc;
			break;
		case 'h': usage(); return KCS_OK;
		case 'V': puts("kcs-keywriter " KCS_VERSION); return KCS_OK;
		default: return kcs_usage_error("unknown option");
		}
	}
	if (!(cmd = kcs_command(commands, argc - optind, argv + optind, &arg)))
		return KCS_EUSAGE;
	if ((rc = kw_pick_serial(pick.device)) != KCS_OK)
		return rc;
	if (opt.public_key && strcmp(cmd->name, "info") != 0)
		return kcs_usage_error("--public-key is for info");
	if (kcs_is_tty(2))
		pick.progress = kw_progress;
	if ((rc = kcs_crypto_init()) != KCS_OK || (rc = kw_pick_id(&pick, usb)) != KCS_OK)
		return rc;
	if (strcmp(cmd->name, "list") == 0)
		rc = cmd_list();
	else if (strcmp(cmd->name, "info") == 0)
		rc = cmd_info();
	else if (strcmp(cmd->name, "read") == 0)
		rc = cmd_read();
	else
		rc = cmd_doctor();
	kw_usb_exit();
	kw_progress_done();
	return rc;
}

int
main(int argc, char **argv)
{
	kcs_setprog(argv[0]);
	return kcs_finish(run(argc, argv));
}
