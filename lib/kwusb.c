/* kwusb.c: key writers on USB, through libusb. A writer has one
 * vendor-specific interface (class 0xFF) with one bulk IN and one bulk OUT
 * endpoint; the frames of kcs-keywriter-protocol(7) cross them as they are. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libusb.h>

#include "kcs.h"

static libusb_context *ctx;

static int
init(void)
{
	int rc;

	if (ctx)
		return KCS_OK;
	if ((rc = libusb_init(&ctx)) != 0) {
		ctx = NULL;
		return kcs_fail(KCS_EINTERNAL, "device", "USB cannot be used: %s", libusb_strerror(rc));
	}
	return KCS_OK;
}

void
kw_usb_exit(void)
{
	if (ctx)
		libusb_exit(ctx);
	ctx = NULL;
}

int
kw_usb_id_parse(const char *s, uint16_t *vid, uint16_t *pid)
{
	unsigned v, p;
	int end = 0;

	if (strlen(s) != 9 || sscanf(s, "%4x:%4x%n", &v, &p, &end) != 2 || end != 9 ||
	    strspn(s, "0123456789abcdefABCDEF:") != 9)
		return kcs_fail(KCS_EINVALID, "usb_id", "is VVVV:PPPP, the vendor and product IDs in hexadecimal");
	*vid = (uint16_t)v;
	*pid = (uint16_t)p;
	return KCS_OK;
}

int
kw_usb_test_id(uint16_t vid, uint16_t pid)
{
	return vid == 0x1209 && pid >= 0x0001 && pid <= 0x0010;
}

static int
by_place(const void *a, const void *b)
{
	const struct kw_usb_found *x = a, *y = b;

	return x->bus != y->bus ? (x->bus > y->bus) - (x->bus < y->bus) : (x->addr > y->addr) - (x->addr < y->addr);
}

/* the attached devices with this ID, by bus and address */
int
kw_usb_find(uint16_t vid, uint16_t pid, struct kw_usb_found *out, size_t cap, size_t *n)
{
	libusb_device **list;
	ssize_t k;
	int rc;

	*n = 0;
	if ((rc = init()) != KCS_OK)
		return rc;
	if ((k = libusb_get_device_list(ctx, &list)) < 0)
		return kcs_fail(KCS_EINTERNAL, "device", "the USB devices cannot be listed: %s", libusb_strerror((int)k));
	for (ssize_t i = 0; i < k && *n < cap; i++) {
		struct libusb_device_descriptor d;

		if (libusb_get_device_descriptor(list[i], &d) != 0 || d.idVendor != vid || d.idProduct != pid)
			continue;
		out[*n].bus = libusb_get_bus_number(list[i]);
		out[*n].addr = libusb_get_device_address(list[i]);
		(*n)++;
	}
	libusb_free_device_list(list, 1);
	qsort(out, *n, sizeof *out, by_place);
	return KCS_OK;
}

/* the vendor interface and its bulk endpoints */
static int
endpoints(libusb_device *dev, struct kw_usb *u)
{
	struct libusb_config_descriptor *cfg;
	int found = 0;

	if (libusb_get_active_config_descriptor(dev, &cfg) != 0)
		return 0;
	for (int i = 0; i < cfg->bNumInterfaces && !found; i++) {
		const struct libusb_interface_descriptor *in;

		if (cfg->interface[i].num_altsetting < 1)
			continue;
		in = &cfg->interface[i].altsetting[0];
		if (in->bInterfaceClass != LIBUSB_CLASS_VENDOR_SPEC)
			continue;
		u->ep_in = u->ep_out = 0;
		for (int e = 0; e < in->bNumEndpoints; e++) {
			const struct libusb_endpoint_descriptor *ep = &in->endpoint[e];

			if ((ep->bmAttributes & 3) != LIBUSB_TRANSFER_TYPE_BULK)
				continue;
			if (ep->bEndpointAddress & LIBUSB_ENDPOINT_IN)
				u->ep_in = ep->bEndpointAddress;
			else
				u->ep_out = ep->bEndpointAddress;
		}
		if (u->ep_in && u->ep_out) {
			u->iface = in->bInterfaceNumber;
			found = 1;
		}
	}
	libusb_free_config_descriptor(cfg);
	return found;
}

int
kw_usb_open(struct kw_usb *u, unsigned bus, unsigned addr)
{
	libusb_device **list, *dev = NULL;
	libusb_device_handle *h;
	ssize_t k;
	int rc;

	memset(u, 0, sizeof *u);
	u->bus = bus;
	u->addr = addr;
	snprintf(u->where, sizeof u->where, "bus %u address %u (/dev/bus/usb/%03u/%03u)", bus, addr, bus, addr);
	if ((rc = init()) != KCS_OK)
		return rc;
	if ((k = libusb_get_device_list(ctx, &list)) < 0)
		return kcs_fail(KCS_EINTERNAL, "device", "the USB devices cannot be listed: %s", libusb_strerror((int)k));
	for (ssize_t i = 0; i < k; i++)
		if (libusb_get_bus_number(list[i]) == bus && libusb_get_device_address(list[i]) == addr)
			dev = libusb_ref_device(list[i]);
	libusb_free_device_list(list, 1);
	if (!dev)
		return kcs_fail(KCS_EUNREACHABLE, "device", "the key writer at %s is gone: was it unplugged?", u->where);
	if (!endpoints(dev, u)) {
		libusb_unref_device(dev);
		return kcs_fail(KCS_EREFUSED, "device", "the device at %s has no vendor interface with bulk endpoints: "
		    "it is not a key writer", u->where);
	}
	rc = libusb_open(dev, &h);
	libusb_unref_device(dev);
	if (rc == LIBUSB_ERROR_ACCESS)
		return kcs_fail(KCS_EPERM, "device", "no permission to use the key writer at %s: "
		    "install the udev rule; kcs-keywriter doctor says how", u->where);
	if (rc == LIBUSB_ERROR_NO_DEVICE)
		return kcs_fail(KCS_EUNREACHABLE, "device", "the key writer at %s is gone: was it unplugged?", u->where);
	if (rc != 0)
		return kcs_fail(KCS_EUNREACHABLE, "device", "the key writer at %s cannot be opened: %s", u->where,
		    libusb_strerror(rc));
	libusb_set_auto_detach_kernel_driver(h, 1);
	if ((rc = libusb_claim_interface(h, u->iface)) != 0) {
		libusb_close(h);
		if (rc == LIBUSB_ERROR_BUSY)
			return kcs_fail(KCS_EREFUSED, "device", "another program holds the key writer at %s; "
			    "close it (kcs-keywriter doctor names it)", u->where);
		return kcs_fail(rc == LIBUSB_ERROR_NO_DEVICE ? KCS_EUNREACHABLE : KCS_EINTERNAL, "device",
		    "the key writer at %s cannot be claimed: %s", u->where, libusb_strerror(rc));
	}
	u->handle = h;
	return KCS_OK;
}

static int
io_rc(int rc)
{
	switch (rc) {
	case 0:
		return KW_IO_OK;
	case LIBUSB_ERROR_TIMEOUT:
		return KW_IO_TIMEOUT;
	case LIBUSB_ERROR_NO_DEVICE:
		return KW_IO_GONE;
	}
	return KW_IO_ERROR;
}

static int
usb_send(void *c, const uint8_t *p, size_t n, int ms)
{
	struct kw_usb *u = c;
	int done = 0, rc;

	rc = libusb_bulk_transfer(u->handle, u->ep_out, (unsigned char *)p, (int)n, &done, (unsigned)(ms > 0 ? ms : 1));
	if (rc == 0 && (size_t)done != n)
		return KW_IO_ERROR;
	return io_rc(rc);
}

static int
usb_recv(void *c, uint8_t *p, size_t cap, size_t *got, int ms)
{
	struct kw_usb *u = c;
	int done = 0, rc;

	rc = libusb_bulk_transfer(u->handle, u->ep_in, p, (int)cap, &done, (unsigned)(ms > 0 ? ms : 1));
	*got = (size_t)done;
	if (rc == LIBUSB_ERROR_TIMEOUT && done > 0)
		rc = 0;
	return io_rc(rc);
}

void
kw_usb_io(struct kw_usb *u, struct kw_io *io)
{
	io->ctx = u;
	io->send = usb_send;
	io->recv = usb_recv;
}

void
kw_usb_close(struct kw_usb *u)
{
	if (u->handle) {
		libusb_release_interface(u->handle, u->iface);
		libusb_close(u->handle);
	}
	u->handle = NULL;
}
