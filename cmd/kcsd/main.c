/* kcsd: the Key Coding System daemon. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <microhttpd.h>
#include <curl/curl.h>
#include <sodium.h>

#include "kcsd.h"

struct kcsd K;

struct MHD_Daemon *kcsd_http_start(int fd, const char *cert, const char *key);
void kcsd_http_stop(struct MHD_Daemon *d);

static const char usage[] =
    "usage: kcsd [-c FILE] [--db FILE] [--key FILE] [--spool DIR] [--listen ADDR:PORT]\n"
    "            [--tls-cert FILE --tls-key FILE] [--url-file FILE]\n"
    "       kcsd [-c FILE] init --db FILE [--key FILE]\n"
    "       kcsd [-c FILE] [--db FILE] [--key FILE] backup BACKUP\n"
    "       kcsd [-c FILE] [--db FILE] [--key FILE] restore [--verify] BACKUP\n"
    "\n"
    "The Key Coding System daemon: holds all state and enforces every rule.\n"
    "init creates the store, its key file and two administrators, whose tokens\n"
    "it prints once: adding or removing a privileged role takes both.\n"
    "backup writes an encrypted, checked copy of a SQLite store while kcsd serves;\n"
    "restore checks one and puts it in place of the store, while no kcsd runs.\n"
    "\n"
    "  -c, --config FILE    settings (kcs.conf(5)); default /etc/kcs/kcs.conf if present\n"
    "      --db FILE        the store: a SQLite file (or sqlite:FILE), made by 'kcsd init'\n"
    "      --key FILE       the server key file (default: kcs.key beside the store)\n"
    "      --spool DIR      where e-mails are written when there is no smtp_url (default: spool\n"
    "                       beside the store)\n"
    "      --listen ADDR:PORT  address to serve (default 127.0.0.1:8425; port 0 picks a free one);\n"
    "                       an address other than loopback needs TLS\n"
    "      --tls-cert FILE  serve HTTPS with this PEM certificate (chain)\n"
    "      --tls-key FILE   and this PEM private key\n"
    "      --url-file FILE  write the URL served to FILE once listening\n"
    "      --verify         restore: check the backup, restore nothing\n"
    "  -h, --help           show this help\n"
    "  -V, --version        show the version\n"
    "\n"
    "Exit status: 0 stopped cleanly (or done), 1 refused (a damaged backup, a kcsd running),\n"
    "2 usage, 3 bad configuration, 5 cannot listen, 6 failure.\n";

static char *
slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t len;

	if (!f) {
		kcs_fail(KCS_EINVALID, NULL, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (kcs_read_all(f, &buf, &len, 1 << 20) != KCS_OK)
		buf = NULL;
	fclose(f);
	return buf;
}

static int
resolve(const char *listen, struct sockaddr_storage *ss, char *host, size_t hn, int *port)
{
	char buf[256], *h = buf, *p;
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE }, *res;
	int e;

	snprintf(buf, sizeof buf, "%s", listen);
	if (*h == '[') {
		h++;
		if (!(p = strchr(h, ']')) || p[1] != ':')
			return kcs_fail(KCS_EUSAGE, "listen", "expected [ADDRESS]:PORT");
		*p = '\0';
		p += 2;
	} else {
		if (!(p = strrchr(h, ':')))
			return kcs_fail(KCS_EUSAGE, "listen", "expected ADDRESS:PORT");
		*p++ = '\0';
	}
	if (!*p || strspn(p, "0123456789") != strlen(p) || strlen(p) > 5 || atoi(p) > 65535)
		return kcs_fail(KCS_EUSAGE, "listen", "'%s' is not a port number (0 to 65535)", p);
	if ((e = getaddrinfo(h, p, &hints, &res)) != 0)
		return kcs_fail(KCS_EUSAGE, "listen", "%s: %s", h, gai_strerror(e));
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	freeaddrinfo(res);
	snprintf(host, hn, ss->ss_family == AF_INET6 ? "[%s]" : "%s", h);
	*port = atoi(p);
	return KCS_OK;
}

/* The listening socket is ours, so that a failure names what was asked. */
static int
listen_on(const struct sockaddr_storage *ss, const char *what, int *fd)
{
	socklen_t len = ss->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
	int one = 1, s = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	if (s < 0 || setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
	    (ss->ss_family == AF_INET6 && setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) != 0) ||
	    bind(s, (const struct sockaddr *)ss, len) != 0 || listen(s, 128) != 0) {
		int e = errno;

		if (s >= 0)
			close(s);
		return kcs_fail(KCS_EUNREACHABLE, "listen", "cannot listen on %s: %s", what, strerror(e));
	}
	*fd = s;
	return KCS_OK;
}

static int
is_loopback(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)(const void *)ss)->sin_addr.s_addr) >> 24) == 127;
	if (ss->ss_family == AF_INET6)
		return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)(const void *)ss)->sin6_addr);
	return 0;
}

/* A store URL for a log line: a password in it is not shown. */
static const char *
shown(const char *url, char *buf, size_t n)
{
	const char *at = strchr(url, '@'), *scheme = strstr(url, "://"), *colon;

	if (!at || !scheme || !(colon = memchr(scheme + 3, ':', (size_t)(at - scheme - 3))))
		return url;
	snprintf(buf, n, "%.*s:***%s", (int)(colon - url), url, at);
	return buf;
}

/* kcsd init: the store, the key file and the first administrator, whose
 * token is printed once. Refuses a store or a key that exists. */
static int
init(void)
{
	const char *path = K.cf.db + (strncmp(K.cf.db, "sqlite:", 7) == 0 ? 7 : 0);
	int pg = strncmp(K.cf.db, "postgres", 8) == 0;
	char token[2][80], hash[KCS_HASH_HEX];
	long long id, n = 0, now = (long long)time(NULL);
	struct dbtx *tx;
	cJSON *out, *d;
	int rc;

	if (!pg && access(path, F_OK) == 0)
		return kcs_fail(KCS_EREFUSED, "db", "%s exists already: refusing to initialise it again", path);
	if (kcs_crypto_init() != KCS_OK || kcsd_key_create(K.cf.key_file) != KCS_OK ||
	    kcsd_key_load(K.cf.key_file, K.pepper, K.master) != KCS_OK)
		return kcs_errcode();
	store_audit_key(K.pepper);
	if (store_open(&K.st, K.cf.db, 1, 1) != STORE_OK) {
		rc = kcs_fail(KCS_EINTERNAL, "db", "%s", K.st.errmsg);
		unlink(K.cf.key_file);
		return rc;
	}
	d = cJSON_CreateObject();
	cJSON_AddStringToObject(d, "db", pg ? "postgresql" : path);
	cJSON_AddNumberToObject(d, "administrators", 2);
	if ((rc = store_begin(&K.st, DB_WRITE, &tx)) == STORE_OK) {
		/* two administrators: adding or removing a privileged role takes both */
		int bad = store_admin_count(tx, &n) != STORE_OK || n > 0;

		for (int i = 0; i < 2 && !bad; i++) {
			kcs_token_new(token[i], sizeof token[i]);
			kcs_keyed_hash(K.pepper, token[i], hash);
			bad = store_operator_add(tx, i ? "admin-2" : "admin-1", "admin", hash, now, 1, &id) != STORE_OK;
		}
		if (bad || store_audit(tx, "kcsd", "store.initialised", pg ? "postgresql" : path, d, now) != STORE_OK) {
			store_rollback(tx);
			rc = n > 0 ? kcs_fail(KCS_EREFUSED, "db", "the store is initialised already")
			    : kcs_fail(KCS_EINTERNAL, "db", "the store could not be initialised");
		} else if ((rc = store_commit(tx)) != STORE_OK) {
			rc = kcs_fail(KCS_EINTERNAL, "db", "the store could not be initialised");
		}
	} else {
		rc = kcs_fail(KCS_EINTERNAL, "db", "the store could not be initialised");
	}
	cJSON_Delete(d);
	store_close(&K.st);
	if (rc != KCS_OK) {
		unlink(K.cf.key_file);
		sodium_memzero(token, sizeof token);
		return rc;
	}
	out = cJSON_CreateObject();
	cJSON_AddStringToObject(out, "db", K.cf.db);
	cJSON_AddStringToObject(out, "key_file", K.cf.key_file);
	cJSON_AddStringToObject(out, "admin_token", token[0]);
	cJSON_AddStringToObject(out, "second_admin_token", token[1]);
	sodium_memzero(token, sizeof token);
	rc = kcs_print(out);
	cJSON_Delete(out);
	return rc;
}

static int
run(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' }, { "db", required_argument, NULL, 'd' },
		{ "key", required_argument, NULL, 'k' }, { "spool", required_argument, NULL, 's' },
		{ "listen", required_argument, NULL, 'l' }, { "tls-cert", required_argument, NULL, 'C' },
		{ "tls-key", required_argument, NULL, 'K' }, { "url-file", required_argument, NULL, 'u' },
		{ "verify", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' }, { "version", no_argument, NULL, 'V' }, { NULL, 0, NULL, 0 }
	};
	const char *config = NULL, *db = NULL, *key = NULL, *spool = NULL, *listen = NULL;
	const char *cert = NULL, *tkey = NULL, *url_file = NULL;
	char *cert_pem = NULL, *key_pem = NULL, host[300], url[400], dir[1024];
	struct sockaddr_storage ss = { 0 }, bound;
	socklen_t slen;
	struct MHD_Daemon *d;
	sigset_t set;
	int c, port = 0, sig, rc, lfd = -1, init_mode = 0, pg, verify = 0, hold;
	const char *backup = NULL, *restore = NULL;

	while ((c = getopt_long(argc, argv, "c:hV", opts, NULL)) != -1) {
		switch (c) {
		case 'c': config = optarg; break;
		case 'd': db = optarg; break;
		case 'k': key = optarg; break;
		case 's': spool = optarg; break;
		case 'l': listen = optarg; break;
		case 'C': cert = optarg; break;
		case 'K': tkey = optarg; break;
		case 'u': url_file = optarg; break;
		case 'v': verify = 1; break;
		case 'h': fputs(usage, stdout); return KCS_OK;
		case 'V': puts("kcsd " KCS_VERSION); return KCS_OK;
		default: return kcs_usage_error("unknown option");
		}
	}
	if (optind < argc && strcmp(argv[optind], "init") == 0)
		init_mode = ++optind;
	else if (optind + 1 < argc && strcmp(argv[optind], "backup") == 0)
		backup = argv[(optind += 2) - 1];
	else if (optind + 1 < argc && strcmp(argv[optind], "restore") == 0)
		restore = argv[(optind += 2) - 1];
	if (verify && !restore)
		return kcs_usage_error("--verify is for restore");
	if (optind != argc)
		return kcs_usage_error("unexpected argument '%s'", argv[optind]);
	if (kcsd_conf_load(&K.cf, config ? config : "/etc/kcs/kcs.conf", config != NULL) != KCS_OK)
		return kcs_errcode();
#define SET(flag, field) if (flag) snprintf(K.cf.field, sizeof K.cf.field, "%s", flag)
	SET(db, db);
	SET(key, key_file);
	SET(spool, spool);
	SET(listen, listen);
	SET(cert, tls_cert);
	SET(tkey, tls_key);
#undef SET
	if (!K.cf.db[0])
		return kcs_usage_error("no store: give --db or db in the configuration");
	/* a SQLite store keeps its key and spool beside it by default */
	pg = strncmp(K.cf.db, "postgres", 8) == 0;
	if (pg && (!K.cf.key_file[0] || (!K.cf.spool[0] && !init_mode && !backup && !restore)))
		return kcs_usage_error("a PostgreSQL store needs --key and --spool (or key_file and spool)");
	snprintf(dir, sizeof dir, "%s", K.cf.db + (strncmp(K.cf.db, "sqlite:", 7) == 0 ? 7 : 0));
	if (!K.cf.key_file[0])
		snprintf(K.cf.key_file, sizeof K.cf.key_file, "%s/kcs.key", dirname(dir));
	snprintf(dir, sizeof dir, "%s", K.cf.db + (strncmp(K.cf.db, "sqlite:", 7) == 0 ? 7 : 0));
	if (!K.cf.spool[0])
		snprintf(K.cf.spool, sizeof K.cf.spool, "%s/spool", dirname(dir));
	if (init_mode)
		return init();
	if (backup || restore) {
		if (kcs_crypto_init() != KCS_OK || kcsd_key_load(K.cf.key_file, K.pepper, K.master) != KCS_OK)
			return kcs_errcode();
		store_audit_key(K.pepper);
		return backup ? kcsd_backup(backup) : kcsd_restore(restore, verify);
	}
	if (!K.cf.tls_cert[0] != !K.cf.tls_key[0])
		return kcs_usage_error("TLS needs both --tls-cert and --tls-key");
	if ((rc = resolve(K.cf.listen, &ss, host, sizeof host, &port)) != KCS_OK)
		return rc;
	if (!is_loopback(&ss) && !K.cf.tls_cert[0])
		return kcs_fail(KCS_EUSAGE, "listen",
		    "%s is not a loopback address: serving it needs TLS (--tls-cert, --tls-key)", K.cf.listen);
	if (kcs_crypto_init() != KCS_OK || kcsd_key_load(K.cf.key_file, K.pepper, K.master) != KCS_OK)
		return kcs_errcode();
	store_audit_key(K.pepper);
	if (K.cf.tls_cert[0] && (!(cert_pem = slurp(K.cf.tls_cert)) || !(key_pem = slurp(K.cf.tls_key))))
		return kcs_errcode();
	/* held while kcsd runs: a restore waits for it to stop */
	if ((hold = kcsd_hold_store(0)) == -1)
		return kcs_fail(KCS_EREFUSED, "db", "%s is being restored: start kcsd when the restore is done", K.cf.db);
	if (store_open(&K.st, K.cf.db, 0, (int)(K.cf.threads + K.cf.hash_slots + 2)) != STORE_OK)
		return kcs_fail(KCS_EINVALID, "db", "%s", K.st.errmsg);
	db_group(K.st.db, (int)K.cf.group_commit_max, K.cf.group_commit_usec);
	if ((rc = outbox_sweep()) < 0) {
		store_close(&K.st);
		return kcs_fail(KCS_EINTERNAL, "spool", "the outbox sweep failed: %s", K.st.errmsg);
	}
	if (rc > 0)
		fprintf(stderr, "kcsd: spool: wrote %d message file%s missing after a crash\n", rc, rc == 1 ? "" : "s");
	if (password_init() != 0)
		return kcs_fail(KCS_EINTERNAL, NULL, "out of memory (argon2_memlimit_kib too high?)");
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* a write beyond a file-size limit fails with EFBIG, not the process */
	signal(SIGXFSZ, SIG_IGN);
	/* libcurl's global state, before any thread: the mailer's */
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK || mailer_start() != KCS_OK) {
		store_close(&K.st);
		return kcs_errcode() ? kcs_errcode() : kcs_fail(KCS_EINTERNAL, NULL, "libcurl failed to start");
	}
	if (listen_on(&ss, K.cf.listen, &lfd) != KCS_OK) {
		mailer_stop();
		store_close(&K.st);
		return kcs_errcode();
	}
	if (!(d = kcsd_http_start(lfd, cert_pem, key_pem))) {
		close(lfd);
		mailer_stop();
		store_close(&K.st);
		return kcs_fail(KCS_EINTERNAL, "listen", "the HTTP server failed to start on %s", K.cf.listen);
	}
	slen = sizeof bound;
	if (getsockname(lfd, (struct sockaddr *)&bound, &slen) == 0)
		port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)(void *)&bound)->sin6_port
		    : ((struct sockaddr_in *)(void *)&bound)->sin_port);
	snprintf(url, sizeof url, "%s://%s:%d", K.cf.tls_cert[0] ? "https" : "http", host, port);
	if (!K.cf.public_url[0])
		snprintf(K.cf.public_url, sizeof K.cf.public_url, "%s", url);
	fprintf(stderr, "kcsd: listening on %s (store %s)\n", url, shown(K.cf.db, dir, sizeof dir));
	if (K.cf.self_approval)
		fprintf(stderr, "kcsd: admin_self_approval = yes: one administrator alone may add and remove "
		    "administrators, operators and the mail room (a weaker mode)\n");
	if (url_file) {
		char line[420];

		snprintf(line, sizeof line, "%s\n", url);
		if (kcs_write_private(url_file, line, strlen(line)) != KCS_OK) {
			kcsd_http_stop(d);
			mailer_stop();
			store_close(&K.st);
			return kcs_errcode();
		}
	}
	if (reset_worker_start() != 0) {
		kcsd_http_stop(d);
		mailer_stop();
		store_close(&K.st);
		return kcs_fail(KCS_EINTERNAL, NULL, "cannot start the password reset worker");
	}
	{
		char ready[512];

		snprintf(ready, sizeof ready, "READY=1\nSTATUS=serving %s", url);
		kcsd_notify(ready);
		kcsd_watchdog_start();
	}
	while (sigwait(&set, &sig) != 0)
		;
	fprintf(stderr, "kcsd: %s: shutting down\n", strsignal(sig));
	kcsd_notify("STOPPING=1");
	kcsd_watchdog_stop();
	kcsd_http_stop(d);
	reset_worker_stop();
	mailer_stop();
	store_close(&K.st);
	sodium_memzero(&K.pepper, sizeof K.pepper);
	sodium_memzero(&K.master, sizeof K.master);
	if (key_pem)
		sodium_memzero(key_pem, strlen(key_pem));
	free(cert_pem);
	free(key_pem);
	return KCS_OK;
}

int
main(int argc, char **argv)
{
	/* the store, its journal, the spool and the URL file: the owner's only */
	umask(077);
	kcs_setprog(argv[0]);
	return kcs_finish(run(argc, argv));
}
