/* kcsd.h: the daemon's internal interfaces: store, outbox, audit, routes. */
#ifndef KCSD_H
#define KCSD_H

#include <pthread.h>

#include "db.h"
#include "kcs.h"

/* store.c: every SQL statement of kcs lives there, over the engine
 * interface of db.h. Calls take the transaction a request runs in. */
enum {
	STORE_OK = DB_OK, STORE_ERROR = DB_ERROR, STORE_CONFLICT = DB_CONFLICT,
	STORE_NOTFOUND = DB_NOTFOUND, STORE_RETRY = DB_RETRY
};

struct store {
	struct db *db;
	char errmsg[256];
};

int store_open(struct store *st, const char *url, int create, int conns);
void store_audit_key(const uint8_t key[KCS_KEY_LEN]); /* the key of the audit chain's hashes */
void store_close(struct store *st);
int store_begin(struct store *st, enum db_mode mode, struct dbtx **tx);
int store_wants_write(const struct dbtx *tx);
int store_commit(struct dbtx *tx);
void store_rollback(struct dbtx *tx);
int store_mark(struct dbtx *tx);
int store_undo(struct dbtx *tx);

int store_operator_add(struct dbtx *tx, const char *name, const char *role,
    const char *token_hash, long long now, int approved, long long *id);
int store_operator_approve(struct dbtx *tx, long long id, long long now);
int store_request_add(struct dbtx *tx, const char *action, long long operator_id, long long by, long long now,
    long long expires, long long *id);
int store_requests_pending(struct dbtx *tx, long long now, cJSON **rows);
int store_request_get(struct dbtx *tx, long long id, cJSON **row);
int store_request_decide(struct dbtx *tx, long long id, const char *state, long long by, long long now);
/* the operator (or administrator) a token belongs to */
struct operator_row {
	long long id;
	char name[128], role[16];
};
int store_operator_by_token(struct dbtx *tx, const char *token_hash, struct operator_row *row);
int store_operator_list(struct dbtx *tx, cJSON **rows);
int store_operator_get(struct dbtx *tx, long long id, cJSON **row);
int store_operator_remove(struct dbtx *tx, long long id, long long now);
int store_admin_count(struct dbtx *tx, long long *n);

int store_sdrm_add(struct dbtx *tx, const char *sdrm_id, const char *pwhash, long long now);
int store_sdrm_get(struct dbtx *tx, const char *sdrm_id, cJSON **row);
int store_sdrm_remove(struct dbtx *tx, const char *sdrm_id);

int store_account_add(struct dbtx *tx, const cJSON *form, long long now, long long *id);
int store_account_get(struct dbtx *tx, long long id, cJSON **row);
int store_account_by_email(struct dbtx *tx, const char *email, cJSON **row);
int store_account_by_sdrm(struct dbtx *tx, const char *sdrm_id, cJSON **row);
int store_account_email_verified(struct dbtx *tx, long long id);
int store_account_address_verified(struct dbtx *tx, long long id);
int store_account_set_email(struct dbtx *tx, long long id, const char *email);
int store_account_close(struct dbtx *tx, long long id, long long now);
int store_account_password(struct dbtx *tx, long long id, const char *pwhash, int must_change);

int store_code_add(struct dbtx *tx, long long account, const char *purpose,
    const char *hash, long long now, long long expires);
int store_code_find(struct dbtx *tx, const char *purpose, const char *hash,
    long long now, cJSON **row);
int store_code_live(struct dbtx *tx, long long account, const char *purpose,
    long long now, cJSON **row);
int store_code_use(struct dbtx *tx, long long id, long long now);
int store_code_void(struct dbtx *tx, long long account, const char *purpose, long long now);

int store_session_add(struct dbtx *tx, long long account, const char *hash,
    const char *stage, long long now);
/* a session, by its token's hash; times are 0 when not set */
struct session_row {
	long long id, account_id, created_at, last_used_at, revoked_at;
	char stage[16]; /* password, sdrm or full */
};
int store_session_get(struct dbtx *tx, const char *hash, struct session_row *row);
int store_session_touch(struct dbtx *tx, long long id, long long now);
int store_session_stage(struct dbtx *tx, long long id, const char *stage);
int store_session_revoke(struct dbtx *tx, long long id, long long now);
int store_session_revoke_all(struct dbtx *tx, long long account, long long now);

int store_failures_get(struct dbtx *tx, const char *key, cJSON **row);
int store_failure_add(struct dbtx *tx, const char *key, long long limit,
    long long cooldown, long long window, long long now, long long *failures);
int store_failures_clear(struct dbtx *tx, const char *key);

int store_disclaimer_current(struct dbtx *tx, const char *kind, cJSON **row);
int store_acceptance_add(struct dbtx *tx, long long account, const char *kind,
    long long version, long long now, long long *id);

int store_outbox_add(struct dbtx *tx, const char *kind, const char *to, const char *subject,
    const uint8_t *sealed, size_t len, const char *spool, const char *file, const char *message_id,
    long long now, long long *id);
int store_outbox_list(struct dbtx *tx, cJSON **rows);
int store_outbox_unspooled(struct dbtx *tx, const char *spool, cJSON **rows);
int store_outbox_get(struct dbtx *tx, long long id, cJSON **row);
int store_outbox_claim(struct dbtx *tx, long long now, long long *id);
int store_outbox_result(struct dbtx *tx, long long id, const char *status, const char *result, long long next,
    long long now);
int store_outbox_stale(struct dbtx *tx, long long since, long long now, cJSON **rows);
int store_outbox_next_due(struct dbtx *tx, long long *when, int *none);
int store_letters_queued(struct dbtx *tx, cJSON **rows);
int store_letter_sent(struct dbtx *tx, long long id, long long now);

int store_vehicle_add(struct dbtx *tx, const char *vin, const char *model, const char *date,
    const uint8_t *secret, size_t slen, const uint8_t *cut, size_t clen, long long now);
int store_vehicle_get(struct dbtx *tx, const char *vin, cJSON **row);
int store_vehicle_keys(struct dbtx *tx, const char *vin, cJSON **rows);
/* A vehicle has KEY_POSITIONS key positions (seed 000 §6.4, seed 001): the
 * two delivered keys take 1 and 2, each order the lowest free one. The
 * schema's CHECK on keys.position guards the same bound. */
#define KEY_POSITIONS 10
/* the lowest free position and how many are free; STORE_NOTFOUND if none */
int store_key_positions(struct dbtx *tx, const char *vin, long long *next, long long *nfree);
int store_key_add(struct dbtx *tx, const char *vin, long long position, long long order_id,
    long long now);

int store_ticket_cancel_live(struct dbtx *tx, long long account, long long now, long long *n);
int store_call_cancel_open(struct dbtx *tx, long long account, long long now, long long *n);
int store_ticket_by_hash(struct dbtx *tx, const char *hash, cJSON **row);
int store_ticket_add(struct dbtx *tx, long long account, const char *hash, long long acceptance,
    long long now, long long expires, long long *id);
int store_ticket_current(struct dbtx *tx, long long account, long long now, cJSON **row);
int store_ticket_find(struct dbtx *tx, const char *hash, long long now, cJSON **row);
int store_ticket_redeem(struct dbtx *tx, long long id, long long now);

int store_call_add(struct dbtx *tx, const char *id, long long ticket, long long op,
    long long now, long long expires);
int store_call_get(struct dbtx *tx, const char *id, cJSON **row);
int store_call_use(struct dbtx *tx, const char *id, long long now);

struct store_order {
	const char *kind, *call_id, *vin, *key_code_hash, *payment_ref, *ship_to;
	const char *expected_from, *expected_to;
	long long account_id, operator_id, key_position;
};
int store_order_add(struct dbtx *tx, const struct store_order *o, long long now, long long *id);
int store_order_get(struct dbtx *tx, long long id, cJSON **row);
int store_order_list(struct dbtx *tx, long long account, const char *sdrm_id, const char *vin,
    const char *state, cJSON **rows);
int store_order_ship(struct dbtx *tx, long long id, const char *tracking, long long now);
int store_keywriter_list(struct dbtx *tx, long long account, cJSON **out);
int store_order_cancel(struct dbtx *tx, long long id, const char *reason, long long now);

/* A blade's cut code: two letters, 000, five digits (HF00019315). */
#define CUT_CODE_LEN 10

/* store_downloads.c */
int store_download_list(struct dbtx *tx, cJSON **out);
int store_download_get(struct dbtx *tx, const char *name, int content, cJSON **out);
int store_download_put(struct dbtx *tx, const char *name, const char *title, long long version, const uint8_t *p,
    size_t n, const char *sha256, const char *signature, long long now);
int store_activation_add(struct dbtx *tx, const char *model, const char *from, const char *to, const char *download,
    long long now, long long *id);
int store_activation_list(struct dbtx *tx, cJSON **out);
int store_activation_for(struct dbtx *tx, const char *model, const char *date, cJSON **out);

/* store_cas.c */
int store_cas_keys(struct dbtx *tx, const char *vin, cJSON **out);
int store_cas_orders_of(struct dbtx *tx, const char *vin, long long account);
int store_cas_coded_key(struct dbtx *tx, const char *vin, long long pos, cJSON **out);
int store_key_lock(struct dbtx *tx, const char *vin, long long pos, const char *reason, const char *who, long long now);
int store_key_release(struct dbtx *tx, const char *vin, long long pos, const char *who, long long now);
int store_key_activate(struct dbtx *tx, const char *vin, long long pos, long long pmax, const char *who,
    long long now);
int store_key_personalize(struct dbtx *tx, const char *vin, long long pos, long long p, const char *who,
    long long now);
int store_model_range(struct dbtx *tx, const char *model, long long *max);
int store_model_set(struct dbtx *tx, const char *model, long long max, long long now);
int store_memory_set(struct dbtx *tx, const char *vin, long long p, const char *unit, const char *name,
    const char *value, const char *who, long long now);
int store_memory_of(struct dbtx *tx, const char *vin, cJSON **out);

/* store_jobs.c */
struct store_job {
	const char *kind, *serial, *nonce;
	long long account_id, order_id, acceptance_id;
	const uint8_t *owner; /* sealed */
	size_t owner_len;
};
int store_vehicle_secret(struct dbtx *tx, const char *vin, cJSON **out);
int store_keycode_order(struct dbtx *tx, const char *hash, cJSON **out);
int store_keycode_spend(struct dbtx *tx, long long order, long long now);
int store_keycodes_due(struct dbtx *tx, long long cutoff, cJSON **out);
int store_keycode_destroy(struct dbtx *tx, long long order, const char *tombstone, long long now);
int store_keywriter_of(struct dbtx *tx, const char *serial, long long account, cJSON **out);
int store_coding_job(struct dbtx *tx, long long order, cJSON **out);
int store_job_add(struct dbtx *tx, const struct store_job *j, long long now, long long *id);
int store_cut_job_add(struct dbtx *tx, const struct store_job *j, long long now, long long *id);
int store_job_restart(struct dbtx *tx, long long id, const struct store_job *j, long long now);
int store_job_get(struct dbtx *tx, long long id, long long account, cJSON **out);
int store_job_attested(struct dbtx *tx, long long id, const char *nonce, const char *challenge, long long expires,
    long long now);
int store_job_done(struct dbtx *tx, long long id, const char *challenge, const char *receipt, const char *key_id,
    long long count, long long now);
int store_key_coded(struct dbtx *tx, long long order, long long now);
int store_jobs_list(struct dbtx *tx, long long account, long long from, long long to, cJSON **out);
int store_keywriter_add(struct dbtx *tx, const char *serial, long long account, long long order,
    const char *public_key, long long now);

/* store_keypool.c */
int store_dealer_add(struct dbtx *tx, const char *name, const char *dpn, const char *outlet, long long now,
    long long *id);
int store_dealer_get(struct dbtx *tx, long long id, cJSON **out);
int store_dealers(struct dbtx *tx, cJSON **dealers, cJSON **locations, cJSON **clients);
int store_location_add(struct dbtx *tx, long long dealer, const char *name, long long now, long long *id);
int store_location_get(struct dbtx *tx, long long id, cJSON **out);
int store_client_add(struct dbtx *tx, long long dealer, const char *role, const char *name, const char *token_hash,
    long long now, long long *id);
int store_client_revoke(struct dbtx *tx, long long id, long long now);
/* a key reader or fleet system, by its token's hash */
struct client_row {
	long long id, dealer_id;
	char role[16], name[72];
};
int store_client_by_token(struct dbtx *tx, const char *token_hash, struct client_row *row);
/* a key read; negative numbers are absent */
struct store_read {
	long long dealer_id, client_id, read_at, mileage, mileage_km, fuel, battery, key_number, range_km;
	long long rollback_km, rollback_at;
	const char *source, *device, *vin, *mileage_unit, *service, *raw_sha256;
};
int store_read_add(struct dbtx *tx, const struct store_read *k, long long now, long long *id);
int store_read_same(struct dbtx *tx, long long client, const char *vin, long long read_at, cJSON **out);
int store_read_latest(struct dbtx *tx, long long dealer, const char *vin, const char *a, const char *b, cJSON **out);
int store_mileage_before(struct dbtx *tx, long long dealer, const char *vin, long long before, long long *km,
    long long *at);
int store_reads_purge(struct dbtx *tx, long long cutoff);
int store_settings_of(struct dbtx *tx, long long dealer, long long location, cJSON **out);
int store_setting_set(struct dbtx *tx, long long dealer, long long location, const char *name, const char *value,
    int lock, const char *who, long long now);
int store_setting_reset(struct dbtx *tx, long long dealer, long long location, const char *name);
int store_unit_get(struct dbtx *tx, long long dealer, const char *number, cJSON **out);
int store_unit_add(struct dbtx *tx, long long dealer, long long location, const char *number, const char *vin,
    long long now, long long *id);
int store_unit_move(struct dbtx *tx, long long id, const char *from, const char *to, const char *agreement,
    int assign, long long location, long long now);
/* a unit's event; negative numbers are absent */
struct store_event {
	long long unit_id, dealer_id, location_id, read_id, mileage, mileage_km, fuel, battery;
	long long rollback_km, rollback_at;
	const char *vin, *event, *agreement, *source, *mileage_unit, *resolution, *actor;
};
int store_unit_event(struct dbtx *tx, const struct store_event *e, long long now, long long *id);
int store_unit_events(struct dbtx *tx, long long unit, cJSON **out);

/* store_maintain.c */
int store_sessions_end(struct dbtx *tx, long long idle_before, long long created_before, long long now);
int store_lapsed(struct dbtx *tx, long long now, cJSON **out);
int store_purge_sessions(struct dbtx *tx, long long revoked_before, long long idle_before, long long created_before);
int store_purge_codes(struct dbtx *tx, long long before);
int store_purge_calls(struct dbtx *tx, long long before);
int store_purge_tickets(struct dbtx *tx, long long before);
int store_spooled_done(struct dbtx *tx, cJSON **out);
int store_unspooled(struct dbtx *tx, long long id);
int store_outbox_counts(struct dbtx *tx, cJSON **out);
int store_metric(struct dbtx *tx, const char *what, long long now, cJSON **out);
int store_mail_since(struct dbtx *tx, long long since, cJSON **out);
int store_last_run(struct dbtx *tx, const char *task, long long now, long long *last);
int store_backup_claim(struct dbtx *tx, long long now, long long every, long long *id, long long *last);
int store_backup_done(struct dbtx *tx, long long id, const char *file, long long bytes, long long now);
int store_backup_failed(struct dbtx *tx, long long id, const char *error);

int store_audit(struct dbtx *tx, const char *actor, const char *event,
    const char *subject, const cJSON *detail, long long now);
int store_audit_verify(struct dbtx *tx, long long *entries, cJSON *bad_ids);
int store_audit_leaves(struct dbtx *tx, long long upto, uint8_t (**leaf)[32], size_t *count);
int store_audit_entries(struct dbtx *tx, long long from, long long to, cJSON **out);
int store_checkpoint_add(struct dbtx *tx, long long size, const char *root, const char *note, long long now);
int store_checkpoint_get(struct dbtx *tx, long long size, cJSON **out);

/* The daemon's settings (kcs.conf(5)) and keys. */
struct kcsd_conf {
	char db[1024], key_file[1024], spool[1024], listen[256], public_url[512];
	char tls_cert[1024], tls_key[1024], mail_from[256];
	char smtp_url[512], smtp_user[256], smtp_password_file[1024], smtp_ca_file[1024];
	long smtp_timeout, smtp_retry, smtp_retry_max, smtp_give_up;
	long request_lifetime, self_approval; /* admin_self_approval = yes: one administrator approves alone */
	long threads, group_commit_max, group_commit_usec, hash_slots, request_timeout, max_body, connection_timeout, connection_limit, per_ip_limit;
	long session_idle, session_max, session_touch, email_link_lifetime, reset_lifetime, reset_interval;
	long lockout_failures, lockout_cooldown;
	long ticket_lifetime, call_lifetime, redeem_failures, redeem_cooldown;
	long keycode_failures, keycode_cooldown, coding_lifetime, keycode_grace;
	long keypool_validity, keypool_retention, keypool_skew;
	long purge_after, letter_warn, backup_every, backup_keep;
	char audit_origin[128], backup_dir[1024];
	unsigned long long argon2_ops;
	size_t argon2_mem;
};

struct kcsd {
	struct store st;
	struct kcsd_conf cf;
	uint8_t pepper[KCS_KEY_LEN];
	uint8_t master[KCS_KEY_LEN];
	char dummy_hash[256]; /* verified against when an account is unknown */
};

extern struct kcsd K;

int kcsd_conf_load(struct kcsd_conf *cf, const char *path, int must_exist);
int kcsd_key_create(const char *path);
int kcsd_key_load(const char *path, uint8_t pepper[KCS_KEY_LEN], uint8_t master[KCS_KEY_LEN]);
void kcsd_sign_keys(const char *purpose, uint8_t pk[32], uint8_t sk[64]);

/* backup.c: kcsd backup, kcsd restore; the store's lock (-1: held by
 * another, -2: nothing to hold) */
int kcsd_backup(const char *file);
int backup_seal(struct store *st, const char *file, long long *bytes, long long *entries);
int kcsd_restore(const char *file, int verify_only);
int kcsd_hold_store(int exclusive);

/* notify.c: systemd's notify protocol and watchdog */
void kcsd_notify(const char *msg);
void kcsd_watchdog_start(void);
void kcsd_watchdog_stop(void);

/* metrics.c: what GET /metrics tells */
void metrics_request(int route, int status, long long usec);
void metrics_retry(void);
size_t kcsd_routes(void);
void kcsd_route(size_t i, const char **method, const char **path);

/* A request as handlers see it. */
struct req {
	const char *method, *path, *arg; /* arg: the last path segment of a wildcard route */
	void *conn;                      /* the MHD connection, for query_arg */
	cJSON *in;                       /* request body (an object) or NULL */
	char ip[64];
	long long now;
	/* who is asking */
	long long op_id, account_id, session_id;
	long long dealer_id, client_id; /* a key reader or fleet system */
	char role[16], stage[16], actor[96];
	/* the answer */
	cJSON *out;
	char *html;        /* a body that is not JSON: HTML, or of type ctype */
	const char *ctype;
	int route;         /* the route's index, -1 if none */
	struct dbtx *tx; /* the transaction the request runs in */
	int head; /* a HEAD request: answered as GET, its changes undone */
	int retry; /* the engine asks for the transaction to run again */
	int upgrade; /* a read that had to write: it runs as a write from now on */
	int keep; /* keep the handler's writes though the answer is an error (failure counters) */
	char ecode[32], efield[64], emsg[400];
	cJSON *edetail; /* added to the error object as "invalid" (per-entry errors) */
	struct spool {
		char *name, *text;
	} spool[8]; /* messages stored by this request, spooled after its commit */
	int nspool;
	int mailed; /* it stored an e-mail for the mailer */
};

int fail(struct req *r, int status, const char *code, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
int store_fail(struct req *r, int rc);
/* writes the audit entry (detail is consumed); a failure fails the change */
int audit_event(struct req *r, const char *event, const char *subject, cJSON *detail);

/* messages.c: the e-mails and letters, by kind; a letter takes the
 * address block, an e-mail NULL; the rest fills in the kind's text */
enum message {
	MSG_VERIFY_LINK, MSG_TEMP_PASSWORD, MSG_ADDRESS_CODE, MSG_RESET_CODE,
	MSG_KEY_ORDER, MSG_KEY_SLIP, MSG_KEYWRITER_ORDER, MSG_KEYWRITER_SLIP
};
int send_message(struct req *r, enum message m, const char *to, const char *address_block, ...);

/* log.c: a line of the request log (ending in a newline) */
void kcsd_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void kcsd_log_flush(int wait);

/* outbox.c */
int outbox_email(struct req *r, const char *to, const char *subject, const char *body);
int outbox_letter(struct req *r, const char *to_name, const char *subject, const char *address_block,
    const char *body);
int outbox_read(struct dbtx *tx, long long id, cJSON **msg);
void outbox_wipe(cJSON *msg);
void outbox_unspool(const char *file);

/* mailer.c: e-mail delivery over SMTP, when smtp_url is set */
int mailer_start(void);
void mailer_stop(void);
void mailer_kick(void);
void outbox_spool(struct req *r);
void outbox_discard(struct req *r);
int outbox_sweep(void);

/* account.c: shared with the other handlers */
int check_lock(struct req *r, const char *key);
int record_failure(struct req *r, const char *family, const char *key, long limit, long cooldown,
    const char *subject, const char *what, int status, const char *code, const char *msg);
int accepted_version(struct req *r, const char *kind, long long *version);
int flag(const cJSON *row, const char *name);
cJSON *status_box(const cJSON *account);
void full_name(const cJSON *account, char *out, size_t n);
void address_lines(const cJSON *account, char *out, size_t n);
const char *query_arg(struct req *r, const char *name);

/* handlers */
int h_health(struct req *r);
int h_disclaimer(struct req *r);
int h_operator_add(struct req *r);
int h_operator_list(struct req *r);
int h_operator_remove(struct req *r);
int h_requests(struct req *r);
int h_request_approve(struct req *r);
int h_request_refuse(struct req *r);
int h_sdrm_add(struct req *r);
int h_sdrm_remove(struct req *r);
int h_outbox_list(struct req *r);
int h_outbox_get(struct req *r);
int h_letters(struct req *r);
int h_letter_get(struct req *r);
int h_letter_sent(struct req *r);
int h_audit_verify(struct req *r);
int h_register(struct req *r);
int h_verify_email(struct req *r);
int h_login(struct req *r);
int h_login_sdrm(struct req *r);
int h_password(struct req *r);
int h_logout(struct req *r);
int h_status(struct req *r);
int h_verify_address(struct req *r);
int h_reset_request(struct req *r);
int h_reset_confirm(struct req *r);
int h_resend_link(struct req *r);
int reset_worker_start(void);
void reset_worker_stop(void);
int password_init(void);
int h_correct_email(struct req *r);
int h_account_close(struct req *r);
int h_vehicle_check(struct req *r);
int h_vehicle_add(struct req *r);
int h_vehicle_get(struct req *r);
int h_ticket_issue(struct req *r);
int h_ticket_status(struct req *r);
int h_redeem(struct req *r);
int h_order_key(struct req *r);
int h_order_keywriter(struct req *r);
int h_my_keywriters(struct req *r);
int h_coding_start(struct req *r);
int h_coding_attest(struct req *r);
int h_coding_receipt(struct req *r);
int h_cut(struct req *r);
int h_my_jobs(struct req *r);
int h_cas_show(struct req *r);
int h_cas_lock(struct req *r);
int h_cas_release(struct req *r);
int h_cas_lost_key(struct req *r);
int h_cas_activate(struct req *r);
int h_cas_personalize(struct req *r);
int h_cas_memory(struct req *r);
int h_cas_reconcile(struct req *r);
int h_model_set(struct req *r);
int h_downloads(struct req *r);
int h_download_get(struct req *r);
int h_download_put(struct req *r);
int h_activation_add(struct req *r);
int h_activation_list(struct req *r);
int h_activation_for(struct req *r);
int h_jobs_export(struct req *r);
void keycode_hash(const char *vin, const char *code, char out[KCS_HASH_HEX]);
int h_maintain(struct req *r);
int h_metrics(struct req *r);
int audit_checkpoint(struct req *r, cJSON *out);
int h_audit_checkpoint(struct req *r);
int h_audit_checkpoint_get(struct req *r);
int h_audit_export(struct req *r);
int keycodes_destroy(struct req *r, int *count);
int h_dealer_add(struct req *r);
int h_dealers(struct req *r);
int h_location_add(struct req *r);
int h_client_add(struct req *r);
int h_client_revoke(struct req *r);
int h_reads_purge(struct req *r);
int keypool_purge(struct req *r, int *count, long long *cutoff);
int h_read_push(struct req *r);
int h_read_import(struct req *r);
int h_read_latest(struct req *r);
int h_resolve(struct req *r);
int h_settings(struct req *r);
int h_setting_set(struct req *r);
int h_unit_event(struct req *r);
int h_unit_get(struct req *r);
int h_ship(struct req *r);
int h_order_cancel(struct req *r);
int h_orders(struct req *r);
int h_my_orders(struct req *r);

/* fields.c: input validation, each error naming its field */
int only_fields(struct req *r, const char *const *allowed);
int want_str(struct req *r, const char *name, size_t min, size_t max, int required, const char **out);
int want_text(struct req *r, const char *name, size_t max, int required, const char **out);
int check_text(struct req *r, const char *field, const char *v, size_t max, int required);
int want_int(struct req *r, const char *name, long long min, long long max, int required, long long *out);
int valid_email(struct req *r, const char *field, const char *in, char *out, size_t n);
int valid_sdrm_id(struct req *r, const char *field, const char *in);
int valid_us_state(struct req *r, const char *field, const char *in, char out[3]);
int valid_password(struct req *r, const char *field, const char *pw);
int hash_password(struct req *r, const char *pw, char out[128]);
int req_release(struct req *r);
int req_retake(struct req *r);
int hash_passwords(struct req *r, int n, const char *const *pws, char (*out)[128]);
int verify_password(struct req *r, const char *hash, const char *pw, int *ok);

#endif
