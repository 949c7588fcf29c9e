/* kcs.h: the one public header of libkcs, shared by every kcs binary. */
#ifndef KCS_H
#define KCS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include <cjson/cJSON.h>

#define KCS_VERSION "0.1.0"

/* Exit codes: the fixed table of kcs(7). */
enum {
	KCS_OK = 0,
	KCS_EREFUSED = 1,     /* refused by a rule: expired, used, not found, locked, conflict */
	KCS_EUSAGE = 2,       /* bad command line */
	KCS_EINVALID = 3,     /* invalid input: a field fails its rules, malformed JSON */
	KCS_EPERM = 4,        /* not permitted: authentication or authorisation failed */
	KCS_EUNREACHABLE = 5, /* the server cannot be reached (or its TLS certificate is not trusted) */
	KCS_EINTERNAL = 6     /* internal failure: I/O, out of memory, server error */
};

/* err.c: one error path. A failing function records the error (thread-local)
 * with kcs_fail and returns its exit code; main hands that code to kcs_finish. */
int kcs_fail(int code, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int kcs_errcode(void);
const char *kcs_errmsg(void);
const char *kcs_errfield(void); /* "" when the error names no field */
const char *kcs_errname(void);  /* server's machine-readable code, "" if none */
void kcs_seterrname(const char *name);
void kcs_setprog(const char *argv0);
const char *kcs_prog(void);
int kcs_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int kcs_finish(int rc); /* flushes stdout, reports the error, returns the exit code */

/* json.c: the one JSON writer and reader (cJSON underneath). */
cJSON *kcs_json_parse(const char *buf, size_t len); /* object only; NULL + kcs_fail */
int kcs_json_print(FILE *f, const cJSON *o);        /* compact, one line */
char *kcs_json_dump(const cJSON *o);                /* compact, malloc'd */
const char *kcs_json_str(const cJSON *o, const char *name);
/* 0; -1 absent or not a number; -2 not whole or beyond +-KCS_ID_MAX */
int kcs_json_int(const cJSON *o, const char *name, long long *out);
#define KCS_ID_MAX 9007199254740991LL /* 2^53 - 1: exact in every JSON reader */
int kcs_id_parse(const char *s, const char *field, long long *out); /* 1..KCS_ID_MAX */
int kcs_number_parse(const char *s, const char *field, long long lo, long long hi, long long *out); /* lo..hi */
int kcs_json_id(const cJSON *o, const char *name, long long *out);  /* required, 1..KCS_ID_MAX */
int kcs_json_text(const cJSON *o, const char *name, const char **out); /* absent: NULL; else a string */
int kcs_json_bool(const cJSON *o, const char *name);
cJSON *kcs_json_stdin(void); /* object piped on stdin, or an empty object */
int kcs_read_all(FILE *f, char **buf, size_t *len, size_t max);
/* a file whole (at most max bytes); a file that cannot be opened names field */
int kcs_read_file(const char *path, const char *field, char **buf, size_t *len, size_t max);

/* config.c: "key = value" files, XDG paths, the session file. */
struct kcs_conf {
	int n;
	char **key, **val;
};
int kcs_conf_load(struct kcs_conf *c, const char *path, int must_exist);
const char *kcs_conf_get(const struct kcs_conf *c, const char *key);
void kcs_conf_free(struct kcs_conf *c);
int kcs_path_config(char *out, size_t n);  /* $XDG_CONFIG_HOME/kcs/config */
int kcs_path_session(char *out, size_t n); /* $KCS_SESSION or $XDG_STATE_HOME/kcs/session */
int kcs_mkdirs(const char *dir, int mode);
int kcs_write_private(const char *path, const char *data, size_t len); /* 0600, atomic */

/* http.c: the client of kcsd (libcurl). */
struct kcs_client {
	void *curl;
	char url[512];
	char ca_file[512];
	char token[256];
	long timeout;
	int url_explicit; /* --url or KCS_URL given: a saved session does not override it */
	cJSON *error;     /* the last error answer's "error" object, or NULL */
};
int kcs_client_open(struct kcs_client *cl, const char *url_flag);
int kcs_client_token(struct kcs_client *cl, const char *token_file);
int kcs_client_session(struct kcs_client *cl); /* loads the saved session */
int kcs_request(struct kcs_client *cl, const char *method, const char *path,
    const cJSON *body, cJSON **out);
void kcs_client_close(struct kcs_client *cl);
char *kcs_url_escape(struct kcs_client *cl, const char *s); /* free with kcs_free */
void kcs_free(void *p);

/* api.c: one call per route of kcsd's API. */
enum kcs_route {
	KCS_DISCLAIMER, KCS_LOGIN, KCS_LOGIN_SDRM, KCS_PASSWORD, KCS_LOGOUT, KCS_ME, KCS_VERIFY_ADDRESS, KCS_MY_KEYWRITERS, KCS_CODING_START, KCS_CODING_ATTEST, KCS_CODING_RECEIPT, KCS_CUT, KCS_MY_JOBS, KCS_JOBS_EXPORT, KCS_DOWNLOADS, KCS_DOWNLOAD, KCS_ACTIVATION,
	KCS_DOWNLOAD_PUT, KCS_ACTIVATION_ADD, KCS_ACTIVATION_LIST, KCS_CAS, KCS_CAS_LOCK, KCS_CAS_RELEASE,
	KCS_CAS_LOST_KEY, KCS_CAS_ACTIVATE, KCS_CAS_PERSONALIZE, KCS_CAS_MEMORY, KCS_CAS_RECONCILE, KCS_MODEL_SET,
	KCS_MY_ORDERS, KCS_RESET, KCS_RESET_CONFIRM, KCS_TICKET, KCS_TICKET_STATUS,
	KCS_REGISTER, KCS_RESEND_LINK, KCS_CORRECT_EMAIL, KCS_REDEEM, KCS_CHECK_VIN, KCS_ORDER_KEY,
	KCS_ORDER_KEYWRITER, KCS_SHIP, KCS_ORDER_CANCEL, KCS_ORDERS,
	KCS_OPERATOR_ADD, KCS_OPERATOR_LIST, KCS_OPERATOR_REMOVE, KCS_SDRM_ADD, KCS_SDRM_REMOVE,
	KCS_ACCOUNT_CLOSE, KCS_OUTBOX_LIST, KCS_OUTBOX_GET, KCS_VEHICLE_ADD, KCS_VEHICLE_GET, KCS_AUDIT_VERIFY,
	KCS_LETTERS, KCS_LETTER, KCS_LETTER_SENT, KCS_REQUESTS, KCS_REQUEST_APPROVE, KCS_REQUEST_REFUSE,
	KCS_DEALER_ADD, KCS_DEALERS, KCS_LOCATION_ADD, KCS_CLIENT_ADD, KCS_CLIENT_REVOKE, KCS_READS_PURGE,
	KCS_READ_PUSH, KCS_READ_IMPORT, KCS_READ_LATEST, KCS_RESOLVE, KCS_SETTINGS, KCS_SETTING_SET, KCS_UNIT_EVENT,
	KCS_UNIT, KCS_MAINTAIN, KCS_AUDIT_CHECKPOINT, KCS_AUDIT_CHECKPOINT_GET, KCS_AUDIT_EXPORT
};
/* arg: the path's last segment (escaped here) for the routes that take
 * one, the query string (escaped by the caller) for those that take one
 * (KCS_ORDERS, KCS_READ_LATEST...), else NULL */
int kcs_call(struct kcs_client *cl, enum kcs_route route, const char *arg, const cJSON *body, cJSON **out);
int kcs_disclaimer(struct kcs_client *cl, const char *kind, int accepted, long long *version);

/* secret.c: secrets come from a terminal (no echo), a file or a descriptor. */
#define KCS_SECRET_MAX 1024
struct kcs_secret_src {
	const char *file; /* path, or NULL */
	int fd;           /* descriptor, or -1 */
};
int kcs_secret_read(const struct kcs_secret_src *src, const char *prompt,
    const char *field, char *buf, size_t cap);
int kcs_tty_confirm(const char *text, const char *question);
/* adds the secret read from src to body under name */
int kcs_body_secret(cJSON *body, const struct kcs_secret_src *src, const char *prompt, const char *name);
/* wipes the secrets (fields named *password*, key_code) of a request body and frees it */
void kcs_body_wipe(cJSON *body);
int kcs_is_tty(int fd);

/* cli.c: what every client main shares. */
int kcs_print(const cJSON *o);               /* one object, one line on stdout */
int kcs_print_each(const cJSON *arr);        /* an array as JSON lines */
int kcs_session_save(const char *url, const char *token);
int kcs_session_drop(void);
int kcs_tty_line(const char *prompt, const char *field, char *buf, size_t cap); /* echoed */
int kcs_parse_fd(const char *arg, const char *field, int *fd);

/* A client's commands, in one table ended by a NULL name. */
struct kcs_command {
	const char *name; /* its words, "operator add"; "" for none (the tool's default) */
	const char *args; /* its operand and options, for the help; NULL for none */
	int nargs;        /* operands: 0, 1, or -1 for an optional one */
	const char *help; /* what it does; "\n" starts another line */
};
/* The command argv (the words after the options) names, and its operand:
 * NULL, with a usage error, when none matches or the operands do not fit. */
const struct kcs_command *kcs_command(const struct kcs_command *t, int argc, char **argv, const char **operand);
void kcs_command_help(FILE *f, const struct kcs_command *t);

/* job.c: what kcs-code and kcs-cut ask: the order's VIN and Key Code
 * (options, its JSON piped in, the terminal), the owner's verification
 * record (options, a JSON file) and the coding disclaimer. */
#define KCS_OWNER_FIELDS 7
extern const char *const kcs_owner_fields[KCS_OWNER_FIELDS][2]; /* option, field */
struct kcs_job_opts {
	const char *vin, *owner_file;
	const char *owner[KCS_OWNER_FIELDS]; /* in the order of kcs_owner_fields */
	struct kcs_secret_src key_code;
	int accept; /* --accept-disclaimer */
};
int kcs_job_body(struct kcs_client *cl, const struct kcs_job_opts *o, cJSON **body);
/* their command-line options (getopt_long values from KCS_JOB_OPT on) */
struct option;
#define KCS_JOB_OPT 0x1000
#define KCS_JOB_NOPTS (5 + KCS_OWNER_FIELDS)
void kcs_job_options(struct option *out);                           /* KCS_JOB_NOPTS entries */
int kcs_job_option(struct kcs_job_opts *o, int c, const char *arg); /* 0 taken, -1 not one, else an error */

/* download.c: the download area's files, signed by kcsd's download key:
 * what is signed, and the client's fetch that verifies it against the key
 * configured (download_key) or pinned on first use. */
#define KCS_DOWNLOAD_CONTEXT "KCS-DOWNLOAD-1" /* 15 bytes with its NUL */
#define KCS_DOWNLOAD_MAX (1 << 20)
size_t kcs_download_message(uint8_t *out, size_t cap, const char *name, uint32_t version, const uint8_t sha256[32]);
int kcs_download_name(const char *name); /* a download's name: 0, or -1 */
/* the file name's content, verified: its metadata (name, title, version,
 * size, sha256, signature) and bytes (free with free) */
int kcs_download_fetch(struct kcs_client *cl, const char *name, cJSON **meta, uint8_t **content, size_t *n);
/* metadata and content verified against the download key (cl NULL:
 * offline, against the key configured or pinned) */
int kcs_download_verify(struct kcs_client *cl, const cJSON *meta, const uint8_t *content, size_t n);

/* cuttable.c: the cut-code mapping table (kcs-cut(1)) */
int kcs_cut_code_parse(const char *code);                 /* two letters, 000, five digits */
int kcs_cut_table_check(const cJSON *table, long long *ncodes); /* every rule, on every code */
int kcs_cut_decode(const cJSON *table, const char *code, cJSON **out);

/* vin.c: North American VIN rules. */
int kcs_vin_parse(const char *in, char out[18]);

/* code.c: human-typable codes (unambiguous alphabet, check character). */
#define KCS_CODE_ALPHABET "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
void kcs_code_new(char *out, size_t n, int symbols);
int kcs_code_parse(const char *in, const char *field, char *out, size_t n);

/* crypto.c: libsodium helpers. */
#define KCS_KEY_LEN 32
#define KCS_HASH_HEX 65
int kcs_crypto_init(void);
void kcs_token_new(char *out, size_t n); /* 256-bit random, hex */
void kcs_digits_new(char *out, size_t ndigits);
void kcs_keyed_hash(const uint8_t key[KCS_KEY_LEN], const char *in, char out[KCS_HASH_HEX]);
int kcs_hex_decode(const char *hex, uint8_t *out, size_t n);
/* secretbox under key: out holds KCS_SEAL_OVERHEAD + len bytes (nonce first) */
#define KCS_SEAL_OVERHEAD 40
void kcs_seal(const uint8_t key[KCS_KEY_LEN], const void *in, size_t len, uint8_t *out);
int kcs_open(const uint8_t key[KCS_KEY_LEN], const uint8_t *in, size_t len, void *out);
void kcs_hex_encode(const uint8_t *in, size_t n, char *out);

/* util.c */
void kcs_time_iso(time_t t, char out[21]);
void kcs_business_day(time_t start, int days, char out[11]); /* UTC date, weekends skipped */
int kcs_date_parse(const char *in, const char *field); /* YYYY-MM-DD, a real day */
int kcs_time_parse(const char *in, const char *field, long long *out); /* YYYY-MM-DDTHH:MM:SSZ */
size_t kcs_utf8_len(const char *s); /* code points; (size_t)-1 if not valid UTF-8 */
const char *kcs_text_check(const char *s); /* NULL, or why the text is refused */
int kcs_url_loopback(const char *url);     /* its host is 127.0.0.0/8, [::1] or localhost */

/* kwframe.c: the key writer's frames (kcs-keywriter-protocol(7)) */
#define KW_MAGIC 0x4B57
#define KW_VERSION 1
#define KW_HEADER 14
#define KW_TRAILER 4
#define KW_MAX_PAYLOAD 1024
#define KW_MAX_FRAME (KW_HEADER + KW_MAX_PAYLOAD + KW_TRAILER)
enum { KW_F_RESPONSE = 1, KW_F_ERROR = 2, KW_F_MORE = 4, KW_F_KEEPALIVE = 8 };
struct kw_frame {
	uint8_t version, flags;
	uint16_t seq, cmd, status, len;
	uint8_t data[KW_MAX_PAYLOAD];
};
/* A receiver: bytes in (kw_rx_feed takes what fits), frames out. */
struct kw_rx {
	uint8_t buf[2 * KW_MAX_FRAME];
	size_t n;
	unsigned long skipped, bad_crc; /* bytes skipped to resynchronise; frames with a bad data check */
};
enum {
	KW_RX_NEED,      /* no whole frame yet: feed more */
	KW_RX_FRAME,     /* *f is a frame */
	KW_RX_BAD_CRC,   /* a frame whose data check failed: *f has its header, for the reply */
	KW_RX_OVERSIZED  /* a header whose length is over KW_MAX_PAYLOAD: refused unread */
};
/* tlog.c: the audit log's tree (RFC 6962 hashing), proofs, checkpoints as
 * C2SP signed notes */
#define KCS_TLOG_MAX_PROOF 128
#define KCS_NOTE_NAME 128
void kcs_tlog_leaf(const uint8_t *data, size_t n, uint8_t out[32]);
void kcs_tlog_root(const uint8_t (*leaf)[32], size_t n, uint8_t out[32]);
size_t kcs_tlog_prove_inclusion(const uint8_t (*leaf)[32], size_t n, size_t i, uint8_t (*proof)[32]);
size_t kcs_tlog_prove_consistency(const uint8_t (*leaf)[32], size_t m, size_t n, uint8_t (*proof)[32]);
int kcs_tlog_check_inclusion(const uint8_t leaf[32], size_t i, size_t n, const uint8_t (*proof)[32], size_t np,
    const uint8_t root[32]);
int kcs_tlog_check_consistency(size_t m, size_t n, const uint8_t old[32], const uint8_t now[32],
    const uint8_t (*proof)[32], size_t np);
/* an audit entry's leaf hash: actor, event, subject, detail */
void kcs_audit_leaf(long long id, long long at, const char *const f[4], const size_t len[4], uint8_t out[32]);
int kcs_note_vkey(const char *name, const uint8_t pk[32], char *out, size_t n); /* NAME+ID+KEY */
int kcs_note_vkey_parse(const char *vkey, char name[KCS_NOTE_NAME], uint8_t pk[32]);
char *kcs_note_sign(const char *text, const char *name, const uint8_t sk[64]); /* malloc'd note */
int kcs_note_open(const char *note, const char *name, const uint8_t pk[32], char **text);
int kcs_checkpoint_parse(const char *text, char origin[KCS_NOTE_NAME], unsigned long long *size, uint8_t root[32]);
/* an export of kcs-admin audit export against the verifier key alone; an
 * earlier checkpoint (a signed note), if given, must be extended */
int kcs_audit_verify_export(const char *export, const char *vkey, const char *previous, int partial, cJSON **report);

/* gki.c: the legacy GKI key-read file (kcs-gki(5)) */
#define KCS_GKI_MAGIC "GKIR"
#define KCS_GKI_VERSION 1
#define KCS_GKI_HEADER 48
#define KCS_GKI_RECORD 100
#define KCS_GKI_MAX 100000
#define KCS_GKI_NONE INT32_MIN /* a service item's remaining distance, not given */
struct kcs_gki_header {
	unsigned version;
	uint32_t count;
	char dpn[14], outlet[14];
};
struct kcs_gki_record {
	size_t offset;
	char vin[18], device[17];
	unsigned key_number, unit, energy_kind, energy, nservice; /* key 0: not known; unit 0 km, 1 mi */
	uint32_t read_at, mileage;
	struct {
		char name[17];
		uint32_t due_day; /* days since 1970-01-01; 0: none */
		int32_t remaining_km;
	} service[2];
};
/* The header, and the file's length against it; errors name the offset. */
int kcs_gki_header(const uint8_t *p, size_t n, struct kcs_gki_header *h);
/* Record i of a file whose header passed. */
int kcs_gki_record(const uint8_t *file, uint32_t i, struct kcs_gki_record *r);

uint16_t kw_crc16(const uint8_t *p, size_t n);  /* CRC-16/CCITT-FALSE */
uint32_t kw_crc32c(const uint8_t *p, size_t n); /* CRC-32C (Castagnoli) */
size_t kw_encode(const struct kw_frame *f, uint8_t *out, size_t cap); /* bytes, or 0: too large */
size_t kw_rx_feed(struct kw_rx *rx, const uint8_t *in, size_t n);
int kw_rx_next(struct kw_rx *rx, struct kw_frame *f);

/* The commands (never renumbered) and statuses of kcs-keywriter-protocol(7). */
enum {
	KW_HELLO = 0x0001, KW_PING = 0x0002, KW_ATTEST = 0x0003,
	KW_KEY_DETECT = 0x0010, KW_KEY_READ = 0x0011,
	KW_CODE_BEGIN = 0x0020, KW_CODE_PROGRESS = 0x0021, KW_CODE_COMMIT = 0x0022,
	KW_CODE_VERIFY = 0x0023, KW_CODE_CANCEL = 0x0030
};
enum {
	KW_S_OK, KW_S_BAD_CHECK, KW_S_TOO_LONG, KW_S_BAD_VERSION, KW_S_UNKNOWN_COMMAND,
	KW_S_BAD_REQUEST, KW_S_HELLO_FIRST, KW_S_BUSY, KW_S_NO_KEY, KW_S_KEY_ERROR,
	KW_S_NO_JOB, KW_S_JOB_REFUSED, KW_S_JOB_EXPIRED, KW_S_VERIFY_FAILED, KW_S_WRONG_STATE,
	KW_S_COUNT
};
const char *kw_cmd_name(uint16_t cmd);     /* "key read", or NULL for an unknown one */
const char *kw_status_text(uint16_t status); /* what it means, for a person */
#define KW_FIRMWARE_MIN 5   /* the oldest firmware major version kcs works with */
#define KW_NONCE 32
#define KW_ATTEST_CONTEXT "KCS-KW-ATTEST-1"   /* 16 bytes with its NUL */
#define KW_RECEIPT_CONTEXT "KCS-KW-RECEIPT-1" /* 17 bytes with its NUL */

/* Building and reading a frame's data: big-endian integers, strings and
 * byte strings with a u8 length before them. A write past the end or a read
 * past the data sets bad; the caller checks it once. */
struct kw_put {
	uint8_t *p;
	size_t n, cap;
	int bad;
};
struct kw_get {
	const uint8_t *p;
	size_t n, off;
	int bad;
};
void kw_put_u8(struct kw_put *w, unsigned v);
void kw_put_u16(struct kw_put *w, unsigned v);
void kw_put_u32(struct kw_put *w, uint32_t v);
void kw_put_u64(struct kw_put *w, uint64_t v);
void kw_put_raw(struct kw_put *w, const void *p, size_t n);
void kw_put_bytes(struct kw_put *w, const void *p, size_t n); /* u8 length first */
unsigned kw_get_u8(struct kw_get *r);
unsigned kw_get_u16(struct kw_get *r);
uint32_t kw_get_u32(struct kw_get *r);
uint64_t kw_get_u64(struct kw_get *r);
const uint8_t *kw_get_raw(struct kw_get *r, size_t n);
size_t kw_get_bytes(struct kw_get *r, uint8_t *out, size_t cap); /* u8 length first */
int kw_get_str(struct kw_get *r, char *out, size_t cap);         /* printable ASCII; -1 if not */

/* kwmsg.c: the signed and sealed messages of the protocol, one home for
 * each format: the handshake's data, what attest signs, a coding job and
 * its receipt. kcsd, the host and the writer all build them here. */
struct kw_info;
int kw_hello_parse(const uint8_t *p, size_t n, struct kw_info *i); /* 0, or -1 malformed */
/* what ATTEST signs: its length (0 if it does not fit) */
size_t kw_attest_message(uint8_t *out, size_t cap, const uint8_t nonce[KW_NONCE], const uint8_t *hello,
    size_t hello_n, const uint8_t fw_hash[32]);
struct kw_job {
	uint64_t id;
	char vin[18];
	unsigned number;
	uint32_t expires;
	uint8_t data[256];
	size_t n;
};
#define KW_JOB_SEALED_MAX (8 + 1 + 17 + 1 + 4 + 1 + 256 + 48)
/* sealed to the writer with Ed25519 public key pk: the sealed bytes, or 0 */
size_t kw_job_seal(const struct kw_job *j, const uint8_t pk[32], uint8_t *out, size_t cap);
int kw_job_open(struct kw_job *j, const uint8_t *sealed, size_t n, const uint8_t pk[32], const uint8_t sk[64]);
struct kw_receipt {
	uint64_t job;
	char vin[18];
	unsigned number, result;
	uint8_t key_id[8];
	size_t key_id_n;
	uint32_t count;
};
size_t kw_receipt_encode(const struct kw_receipt *r, uint8_t *out, size_t cap);
int kw_receipt_parse(const uint8_t *p, size_t n, struct kw_receipt *r); /* 0, or -1 malformed */
/* what CODE_COMMIT signs: its length */
size_t kw_receipt_message(uint8_t *out, size_t cap, const uint8_t challenge[KW_NONCE], const uint8_t *receipt,
    size_t n);

/* kwdev.c: the writer's side of the protocol, as its firmware runs it; the
 * emulated writer (tests/kwemu.c) presents it over USB. */
enum { KW_CHIP_PCF7945 = 1, KW_CHIP_PCF7953 = 2 };
const char *kw_chip_name(unsigned chip); /* NULL for an unknown one */
struct kw_key {
	int present, coded;
	unsigned chip, number, personalization, unit, energy_kind, energy;
	uint8_t uid[8];
	size_t uid_len;
	char vin[18];
	uint32_t mileage, stored_at;
};
enum { KW_UNIT_KM, KW_UNIT_MI };
enum { KW_ENERGY_NONE, KW_ENERGY_FUEL, KW_ENERGY_BATTERY };
enum { KW_JOB_NONE, KW_JOB_READY, KW_JOB_CODED, KW_JOB_CANCELLED };
struct kw_dev {
	/* what the writer is: set before kw_dev_start */
	char serial[33], model[17];
	unsigned fw[3], hw;
	uint8_t seed[32];
	struct kw_key key;
	void (*out)(void *ctx, const uint8_t *p, size_t n); /* bytes to the host */
	void *ctx;
	/* its state */
	uint8_t pk[32], sk[64], fw_hash[32];
	struct kw_rx rx;
	int hello;
	uint8_t hello_data[128];
	size_t hello_n;
	int cached;
	uint16_t last_seq, last_cmd;
	uint32_t last_check;
	uint8_t reply[KW_MAX_FRAME];
	size_t reply_n;
	uint16_t cur_seq, cur_cmd; /* of the request last taken */
	struct {
		int state;
		uint64_t id;
		char vin[18];
		unsigned number;
		uint8_t data[256];
		size_t n;
		uint8_t receipt[KW_MAX_PAYLOAD];
		size_t receipt_n;
	} job;
	uint32_t counter;
	unsigned long executed[0x40], replayed, refused;
};
void kw_dev_start(struct kw_dev *d); /* derives the keys; a power-on */
void kw_dev_reset(struct kw_dev *d); /* unplugged: session, cache and job gone */
int kw_dev_step(struct kw_dev *d);   /* takes one request from d->rx and answers it; 0: none */
void kw_dev_keepalive(struct kw_dev *d, unsigned percent); /* for the request last taken */

/* kwhost.c: the host's side: transactions with retries, timeouts and
 * keepalives over a transport (kwusb.c, or another in tests). */
enum { KW_IO_OK, KW_IO_TIMEOUT, KW_IO_GONE, KW_IO_ERROR };
struct kw_io {
	void *ctx;
	int (*send)(void *ctx, const uint8_t *p, size_t n, int ms);
	int (*recv)(void *ctx, uint8_t *p, size_t cap, size_t *got, int ms);
};
struct kw_info {
	unsigned proto, fw[3], hw, max_payload;
	char serial[33], model[33];
	uint16_t cmds[64];
	size_t ncmds;
	uint8_t raw[KW_MAX_PAYLOAD]; /* the handshake's data, as attest signs it */
	size_t raw_n;
};
struct kw_host {
	struct kw_io io;
	const char *where; /* names the writer in messages until the handshake does */
	int frame_ms, txn_ms, tries;
	void (*progress)(void *ctx, uint16_t cmd, unsigned percent); /* on keepalives */
	void *pctx;
	/* state */
	struct kw_rx rx;
	uint16_t seq;
	struct kw_info info;
	int ready; /* the handshake is done */
	unsigned long resent;
};
#define KW_FRAME_MS 1000 /* a reply or keepalive is due this soon, else the request goes again */
#define KW_TXN_MS 3000   /* a request without reply or keepalive for this long has failed */
#define KW_TRIES 3
void kw_host_init(struct kw_host *h, const struct kw_io *io, const char *where);
int kw_host_hello(struct kw_host *h);  /* the handshake: h->info */
int kw_host_usable(struct kw_host *h); /* 0, or why kcs cannot work with this writer */
int kw_host_call(struct kw_host *h, uint16_t cmd, const void *data, size_t n, struct kw_frame *reply);
/* attest over nonce: the writer's key, firmware hash and whether its
 * signature holds under want_pk (or under its own key when want_pk is NULL) */
int kw_host_attest(struct kw_host *h, const uint8_t nonce[KW_NONCE], const uint8_t *want_pk,
    uint8_t pk[32], uint8_t fw_hash[32], uint8_t sig[64]);
cJSON *kw_key_json(const struct kw_frame *reply); /* a key detect or read as JSON; NULL: malformed */

/* kwusb.c: writers on USB (libusb): one vendor-specific interface, one bulk
 * endpoint each way. The default ID is a pid.codes test ID. */
#define KW_USB_VID 0x1209
#define KW_USB_PID 0x0001
struct kw_usb {
	void *handle;
	unsigned bus, addr;
	uint8_t ep_in, ep_out;
	int iface;
	char where[48]; /* "bus 1 address 2 (/dev/bus/usb/001/002)" */
};
struct kw_usb_found {
	unsigned bus, addr;
};
int kw_usb_id_parse(const char *s, uint16_t *vid, uint16_t *pid); /* "VVVV:PPPP" */
int kw_usb_test_id(uint16_t vid, uint16_t pid); /* a pid.codes test ID */
int kw_usb_find(uint16_t vid, uint16_t pid, struct kw_usb_found *out, size_t cap, size_t *n);
int kw_usb_open(struct kw_usb *u, unsigned bus, unsigned addr);
void kw_usb_io(struct kw_usb *u, struct kw_io *io);
void kw_usb_close(struct kw_usb *u);
void kw_usb_exit(void);

/* kwpick.c: the writer a tool works with */
struct kw_pick {
	const char *device; /* its serial; NULL: the only one attached */
	uint16_t vid, pid;
	int txn_ms;         /* 0: KW_TXN_MS */
	void (*progress)(void *ctx, uint16_t cmd, unsigned percent);
};
int kw_pick_id(struct kw_pick *p, const char *flag); /* the USB ID; warns on a test ID */
int kw_pick_serial(const char *serial);              /* a --device value */
int kw_pick_timeout(struct kw_pick *p, const char *arg); /* a --timeout value, seconds */
void kw_pick_host(const struct kw_pick *p, struct kw_usb *u, struct kw_host *h);
int kw_pick_open(const struct kw_pick *p, struct kw_usb *u, struct kw_host *h); /* handshake done */
/* progress on standard error, for a terminal: the writer's keepalives, a
 * step's name, and the line erased once the answer is in */
void kw_progress(void *ctx, uint16_t cmd, unsigned percent);
void kw_progress_step(const char *what);
void kw_progress_done(void);

#endif
