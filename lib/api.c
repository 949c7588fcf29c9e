/* api.c: one call per route of kcsd's API: its method and path, in one
 * table that every client uses. */
#include <stdio.h>
#include <string.h>

#include "kcs.h"

static const struct {
	const char *method, *path; /* a path ending in '/' takes an argument; in '?', a query */
} routes[] = {
	[KCS_DISCLAIMER] = { "GET", "/v1/disclaimers/" },
	[KCS_LOGIN] = { "POST", "/v1/login" },
	[KCS_LOGIN_SDRM] = { "POST", "/v1/login/sdrm" },
	[KCS_PASSWORD] = { "POST", "/v1/password" },
	[KCS_LOGOUT] = { "POST", "/v1/logout" },
	[KCS_ME] = { "GET", "/v1/me" },
	[KCS_VERIFY_ADDRESS] = { "POST", "/v1/me/verify-address" },
	[KCS_MY_ORDERS] = { "GET", "/v1/me/orders" },
	[KCS_MY_KEYWRITERS] = { "GET", "/v1/me/keywriters" },
	[KCS_CODING_START] = { "POST", "/v1/coding" },
	[KCS_CODING_ATTEST] = { "POST", "/v1/coding/attest" },
	[KCS_CODING_RECEIPT] = { "POST", "/v1/coding/receipt" },
	[KCS_CUT] = { "POST", "/v1/cut" },
	[KCS_MY_JOBS] = { "GET", "/v1/me/jobs" },
	[KCS_CAS] = { "GET", "/v1/cas/" },
	[KCS_CAS_LOCK] = { "POST", "/v1/cas/lock" },
	[KCS_CAS_RELEASE] = { "POST", "/v1/cas/release" },
	[KCS_CAS_LOST_KEY] = { "POST", "/v1/cas/lost-key" },
	[KCS_CAS_ACTIVATE] = { "POST", "/v1/cas/activate" },
	[KCS_CAS_PERSONALIZE] = { "POST", "/v1/cas/personalize" },
	[KCS_CAS_MEMORY] = { "POST", "/v1/cas/memory" },
	[KCS_CAS_RECONCILE] = { "POST", "/v1/cas/reconcile" },
	[KCS_MODEL_SET] = { "POST", "/v1/admin/models" },
	[KCS_DOWNLOADS] = { "GET", "/v1/downloads" },
	[KCS_DOWNLOAD] = { "GET", "/v1/downloads/" },
	[KCS_ACTIVATION] = { "GET", "/v1/activation/" },
	[KCS_DOWNLOAD_PUT] = { "POST", "/v1/admin/downloads" },
	[KCS_ACTIVATION_ADD] = { "POST", "/v1/admin/activation" },
	[KCS_ACTIVATION_LIST] = { "GET", "/v1/admin/activation" },
	[KCS_JOBS_EXPORT] = { "GET", "/v1/admin/jobs?" },
	[KCS_RESET] = { "POST", "/v1/password-reset" },
	[KCS_RESET_CONFIRM] = { "POST", "/v1/password-reset/confirm" },
	[KCS_TICKET] = { "POST", "/v1/tickets" },
	[KCS_TICKET_STATUS] = { "GET", "/v1/tickets/current" },
	[KCS_REGISTER] = { "POST", "/v1/hotline/locksmiths" },
	[KCS_RESEND_LINK] = { "POST", "/v1/hotline/locksmiths/resend-link" },
	[KCS_CORRECT_EMAIL] = { "POST", "/v1/hotline/locksmiths/email" },
	[KCS_REDEEM] = { "POST", "/v1/hotline/redeem" },
	[KCS_CHECK_VIN] = { "GET", "/v1/hotline/vehicles/" },
	[KCS_ORDER_KEY] = { "POST", "/v1/hotline/orders/key" },
	[KCS_ORDER_KEYWRITER] = { "POST", "/v1/hotline/orders/keywriter" },
	[KCS_SHIP] = { "POST", "/v1/hotline/ship" },
	[KCS_ORDER_CANCEL] = { "POST", "/v1/hotline/orders/cancel" },
	[KCS_ORDERS] = { "GET", "/v1/hotline/orders?" },
	[KCS_OPERATOR_ADD] = { "POST", "/v1/admin/operators" },
	[KCS_OPERATOR_LIST] = { "GET", "/v1/admin/operators" },
	[KCS_OPERATOR_REMOVE] = { "DELETE", "/v1/admin/operators/" },
	[KCS_SDRM_ADD] = { "POST", "/v1/admin/sdrm" },
	[KCS_SDRM_REMOVE] = { "DELETE", "/v1/admin/sdrm/" },
	[KCS_ACCOUNT_CLOSE] = { "DELETE", "/v1/admin/accounts/" },
	[KCS_OUTBOX_LIST] = { "GET", "/v1/admin/outbox" },
	[KCS_OUTBOX_GET] = { "GET", "/v1/admin/outbox/" },
	[KCS_VEHICLE_ADD] = { "POST", "/v1/admin/vehicles" },
	[KCS_VEHICLE_GET] = { "GET", "/v1/admin/vehicles/" },
	[KCS_AUDIT_VERIFY] = { "GET", "/v1/admin/audit/verify" },
	[KCS_LETTERS] = { "GET", "/v1/mailroom/letters" },
	[KCS_LETTER] = { "GET", "/v1/mailroom/letters/" },
	[KCS_LETTER_SENT] = { "POST", "/v1/mailroom/sent" },
	[KCS_REQUESTS] = { "GET", "/v1/admin/requests" },
	[KCS_DEALER_ADD] = { "POST", "/v1/admin/dealers" },
	[KCS_DEALERS] = { "GET", "/v1/admin/dealers" },
	[KCS_LOCATION_ADD] = { "POST", "/v1/admin/locations" },
	[KCS_CLIENT_ADD] = { "POST", "/v1/admin/keypool-clients" },
	[KCS_CLIENT_REVOKE] = { "DELETE", "/v1/admin/keypool-clients/" },
	[KCS_READS_PURGE] = { "POST", "/v1/admin/keypool/purge" },
	[KCS_READ_PUSH] = { "POST", "/v1/keypool/reads" },
	[KCS_READ_IMPORT] = { "POST", "/v1/keypool/import" },
	[KCS_READ_LATEST] = { "GET", "/v1/keypool/latest?" },
	[KCS_RESOLVE] = { "GET", "/v1/keypool/resolve?" },
	[KCS_SETTINGS] = { "GET", "/v1/keypool/settings?" },
	[KCS_SETTING_SET] = { "POST", "/v1/keypool/settings" },
	[KCS_UNIT_EVENT] = { "POST", "/v1/keypool/units" },
	[KCS_UNIT] = { "GET", "/v1/keypool/units/" },
	[KCS_MAINTAIN] = { "POST", "/v1/admin/maintain" },
	[KCS_AUDIT_CHECKPOINT] = { "POST", "/v1/admin/audit/checkpoint" },
	[KCS_AUDIT_CHECKPOINT_GET] = { "GET", "/v1/admin/audit/checkpoint" },
	[KCS_AUDIT_EXPORT] = { "GET", "/v1/admin/audit/export?" },
	[KCS_REQUEST_APPROVE] = { "POST", "/v1/admin/requests/approve" },
	[KCS_REQUEST_REFUSE] = { "POST", "/v1/admin/requests/refuse" },
};

int
kcs_call(struct kcs_client *cl, enum kcs_route route, const char *arg, const cJSON *body, cJSON **out)
{
	const char *path = routes[route].path;
	size_t n = strlen(path);
	char full[1024], *e = NULL;
	int rc;

	if (path[n - 1] == '/') {
		if (!arg || !*arg || !(e = kcs_url_escape(cl, arg)))
			return kcs_fail(KCS_EUSAGE, NULL, "%s needs an argument", path);
		snprintf(full, sizeof full, "%s%s", path, e);
		kcs_free(e);
	} else if (path[n - 1] == '?') {
		snprintf(full, sizeof full, "%.*s%s%s", (int)n - 1, path, arg && *arg ? "?" : "", arg ? arg : "");
	} else {
		snprintf(full, sizeof full, "%s", path);
	}
	rc = kcs_request(cl, routes[route].method, full, body, out);
	return rc;
}

/* The disclaimer of kind: its version, once the user accepted it (on the
 * terminal, unless accepted is set: --accept-disclaimer). */
int
kcs_disclaimer(struct kcs_client *cl, const char *kind, int accepted, long long *version)
{
	cJSON *d = NULL;
	int rc = kcs_call(cl, KCS_DISCLAIMER, kind, NULL, &d), yes;

	if (rc != KCS_OK)
		return rc;
	kcs_json_int(d, "version", version);
	if (!accepted) {
		yes = kcs_tty_confirm(kcs_json_str(d, "text"), "Do you accept the disclaimer?");
		if (yes < 0)
			rc = kcs_fail(KCS_EPERM, "accept_disclaimer",
			    "the %s disclaimer must be accepted: no terminal to ask on, use --accept-disclaimer", kind);
		else if (!yes)
			rc = kcs_fail(KCS_EPERM, "accept_disclaimer", "the %s disclaimer was not accepted", kind);
	}
	cJSON_Delete(d);
	return rc;
}
