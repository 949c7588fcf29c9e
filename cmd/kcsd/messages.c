/* messages.c: every e-mail and letter kcsd sends, its subject and its text,
 * in one place. The texts are formats; send_message fills one in and
 * queues it in the outbox. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "kcsd.h"

static const struct {
	int letter; /* a letter (an address block first), else an e-mail */
	const char *subject, *text;
} msgs[] = {
	[MSG_VERIFY_LINK] = { 0, "Verify your e-mail address for the Key Coding System",
	    /* first name, last name, SDRM ID, link, expiry */
	    "Hello %s %s,\r\n\r\nthe hotline has entered your registration for the Key Coding System\r\n"
	    "(SDRM ID %s). To verify your e-mail address, open this link:\r\n\r\n  %s\r\n\r\n"
	    "The link works once and expires at %s. After that you receive a second\r\n"
	    "e-mail with your temporary password.\r\n" },
	[MSG_TEMP_PASSWORD] = { 0, "Your temporary Key Coding System password",
	    /* first name, last name, password */
	    "Hello %s %s,\r\n\r\nyour e-mail address is verified. Your temporary password is:\r\n\r\n"
	    "  %s\r\n\r\nLog in with kcs-login: it asks you to choose a new password (at least\r\n"
	    "12 characters) before anything else.\r\n" },
	[MSG_ADDRESS_CODE] = { 1, "Delivery address verification code",
	    /* name, code, code */
	    "Dear %s,\n\nyour delivery address verification code for the Key Coding System is:\n\n"
	    "    %s\n\nLog in and enter it with:  kcs-login verify-address %s\n"
	    "Your account becomes active once this address is verified.\n" },
	[MSG_RESET_CODE] = { 0, "Key Coding System password reset",
	    /* first name, last name, code, expiry, the address quoted for a shell, code */
	    "Hello %s %s,\r\n\r\na password reset was requested for your Key Coding System account.\r\n"
	    "Your reset code is:\r\n\r\n  %s\r\n\r\nIt works once and expires at %s. Reset with:\r\n"
	    "  kcs-login reset --email %s --code %s\r\n\r\nIf you did not ask for this, ignore this e-mail.\r\n" },
	[MSG_KEY_ORDER] = { 0, "Your key order",
	    /* first name, last name, order, VIN, position, Key Code, address block */
	    "Hello %s %s,\r\n\r\nthe hotline has placed your key order.\r\n\r\n"
	    "  Order:        %lld\r\n  VIN:          %s\r\n  Key position: %lld of 10\r\n"
	    "  Key Code:     %s\r\n\r\nYou need the VIN and the Key Code to code and to cut the key.\r\n"
	    "Keep the Key Code secret. The blank key ships to:\r\n\r\n%s\r\n" },
	[MSG_KEY_SLIP] = { 1, "Blank key packing slip",
	    /* order, VIN, position */
	    "BLANK KEY\nBlank key order ID: %lld\nVIN: %s\nKey position: %lld\n" },
	[MSG_KEYWRITER_ORDER] = { 0, "Your key writer order",
	    /* first name, last name, order, from, to, address block */
	    "Hello %s %s,\r\n\r\nthe hotline has placed your key writer order %lld.\r\n"
	    "It ships to your verified delivery address and arrives between %s and %s\r\n"
	    "(5 to 10 business days):\r\n\r\n%s\r\n\r\nKey writer firmware 5 or later is required.\r\n" },
	[MSG_KEYWRITER_SLIP] = { 1, "Key writer packing slip",
	    /* order, from, to */
	    "KEY WRITER\nOrder ID: %lld\nExpected delivery: %s to %s\n" },
};

int
send_message(struct req *r, enum message m, const char *to, const char *address_block, ...)
{
	char text[4096];
	va_list ap;
	int rc;

	va_start(ap, address_block);
	vsnprintf(text, sizeof text, msgs[m].text, ap);
	va_end(ap);
	rc = msgs[m].letter ? outbox_letter(r, to, msgs[m].subject, address_block, text)
			    : outbox_email(r, to, msgs[m].subject, text);
	sodium_memzero(text, sizeof text);
	return rc;
}
