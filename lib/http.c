/* http.c: the client side of the kcsd API, on libcurl. */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <sodium.h>

#include "kcs.h"

#define DEFAULT_URL "http://127.0.0.1:8425"
#define RESPONSE_MAX (64 << 20)

struct buf {
	char *p;
	size_t n;
	int over;
};

static size_t
on_data(char *data, size_t size, size_t nmemb, void *arg)
{
	struct buf *b = arg;
	size_t len = size * nmemb;
	char *np;

	if (b->n + len > RESPONSE_MAX) {
		b->over = 1;
		return 0;
	}
	if (!(np = realloc(b->p, b->n + len + 1)))
		return 0;
	b->p = np;
	memcpy(b->p + b->n, data, len);
	b->n += len;
	b->p[b->n] = '\0';
	return len;
}

int
kcs_client_open(struct kcs_client *cl, const char *url_flag)
{
	struct kcs_conf conf;
	char path[1024];
	const char *v, *env = getenv("KCS_URL");
	static int inited;

	memset(cl, 0, sizeof *cl);
	if (kcs_path_config(path, sizeof path) != KCS_OK ||
	    kcs_conf_load(&conf, path, 0) != KCS_OK)
		return kcs_errcode();
	cl->url_explicit = (url_flag && *url_flag) || (env && *env);
	v = url_flag && *url_flag ? url_flag : env && *env ? env : kcs_conf_get(&conf, "url");
	snprintf(cl->url, sizeof cl->url, "%s", v ? v : DEFAULT_URL);
	if ((v = getenv("KCS_CA_FILE")) && *v)
		snprintf(cl->ca_file, sizeof cl->ca_file, "%s", v);
	else if ((v = kcs_conf_get(&conf, "ca_file")))
		snprintf(cl->ca_file, sizeof cl->ca_file, "%s", v);
	cl->timeout = (v = kcs_conf_get(&conf, "timeout")) ? atol(v) : 30;
	if (cl->timeout <= 0)
		cl->timeout = 30;
	kcs_conf_free(&conf);
	/* strip trailing slashes so paths join cleanly */
	for (size_t n = strlen(cl->url); n > 0 && cl->url[n - 1] == '/'; n--)
		cl->url[n - 1] = '\0';
	if (strncmp(cl->url, "http://", 7) != 0 && strncmp(cl->url, "https://", 8) != 0)
		return kcs_fail(KCS_EUSAGE, "url", "'%s' is not an http:// or https:// URL", cl->url);
	if (!inited) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
			return kcs_fail(KCS_EINTERNAL, NULL, "libcurl failed to initialise");
		inited = 1;
	}
	if (!(cl->curl = curl_easy_init()))
		return kcs_fail(KCS_EINTERNAL, NULL, "libcurl failed to initialise");
	return KCS_OK;
}

/* The operator or administrator token: --token-file, $KCS_TOKEN_FILE, the
 * config's token_file, or $KCS_TOKEN. */
int
kcs_client_token(struct kcs_client *cl, const char *token_file)
{
	struct kcs_conf conf;
	char path[1024];
	const char *f = token_file, *env;
	struct kcs_secret_src src = { NULL, -1 };
	int rc = KCS_OK;

	if (!f && (env = getenv("KCS_TOKEN_FILE")) && *env)
		f = env;
	if (kcs_path_config(path, sizeof path) != KCS_OK || kcs_conf_load(&conf, path, 0) != KCS_OK)
		return kcs_errcode();
	if (!f)
		f = kcs_conf_get(&conf, "token_file");
	if (f) {
		src.file = f;
		rc = kcs_secret_read(&src, "", "token", cl->token, sizeof cl->token);
	} else if ((env = getenv("KCS_TOKEN")) && *env) {
		snprintf(cl->token, sizeof cl->token, "%s", env);
	} else {
		rc = kcs_fail(KCS_EPERM, "token",
		    "no token: give --token-file, KCS_TOKEN_FILE, token_file in the config, or KCS_TOKEN");
	}
	kcs_conf_free(&conf);
	return rc;
}

int
kcs_client_session(struct kcs_client *cl)
{
	char path[1024], *buf = NULL;
	size_t len;
	FILE *f;
	cJSON *o;
	const char *tok, *url;
	int rc;

	if (kcs_path_session(path, sizeof path) != KCS_OK)
		return kcs_errcode();
	if (!(f = fopen(path, "r")))
		return kcs_fail(KCS_EPERM, NULL, "not logged in: run kcs-login first");
	rc = kcs_read_all(f, &buf, &len, 65536);
	fclose(f);
	if (rc != KCS_OK)
		return rc;
	o = kcs_json_parse(buf, len);
	sodium_memzero(buf, len);
	free(buf);
	if (!o)
		return kcs_fail(KCS_EPERM, NULL, "session file %s is damaged: log in again", path);
	tok = kcs_json_str(o, "token");
	url = kcs_json_str(o, "url");
	if (!tok || strlen(tok) >= sizeof cl->token) {
		cJSON_Delete(o);
		return kcs_fail(KCS_EPERM, NULL, "session file %s is damaged: log in again", path);
	}
	/* a session token goes only to the server that issued it */
	if (url && cl->url_explicit && strcmp(url, cl->url) != 0) {
		rc = kcs_fail(KCS_EPERM, "url", "not logged in to %s (the session is for %s)", cl->url, url);
		sodium_memzero((void *)tok, strlen(tok));
		cJSON_Delete(o);
		return rc;
	}
	snprintf(cl->token, sizeof cl->token, "%s", tok);
	if (url)
		snprintf(cl->url, sizeof cl->url, "%s", url);
	sodium_memzero((void *)tok, strlen(tok));
	cJSON_Delete(o);
	return KCS_OK;
}

static int
status_exit(long status)
{
	switch (status) {
	case 400: case 413: case 415: case 422:
		return KCS_EINVALID;
	case 401: case 403:
		return KCS_EPERM;
	case 404: case 405: case 409: case 410: case 423: case 429:
		return KCS_EREFUSED;
	case 502: case 503: case 504:
		return KCS_EUNREACHABLE; /* busy or behind a proxy that is: try again */
	default:
		return KCS_EINTERNAL;
	}
}

int
kcs_request(struct kcs_client *cl, const char *method, const char *path,
    const cJSON *body, cJSON **out)
{
	CURL *c = cl->curl;
	struct curl_slist *h = NULL;
	struct buf resp = { 0 };
	char url[1024], auth[300], errbuf[CURL_ERROR_SIZE] = "";
	char *data = NULL;
	long status = 0;
	CURLcode cc;
	cJSON *o;
	int rc = KCS_OK;

	if (out)
		*out = NULL;
	cJSON_Delete(cl->error);
	cl->error = NULL;
	/* a token is a credential: in the clear only to this machine */
	if (cl->token[0] && strncmp(cl->url, "http://", 7) == 0 && !kcs_url_loopback(cl->url))
		return kcs_fail(KCS_EUSAGE, "url", "%s: a token is sent over plain HTTP only to a loopback "
		    "address; use https://", cl->url);
	snprintf(url, sizeof url, "%s%s", cl->url, path);
	curl_easy_reset(c);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, cl->timeout);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(c, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	if (cl->ca_file[0])
		curl_easy_setopt(c, CURLOPT_CAINFO, cl->ca_file);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &resp);
	h = curl_slist_append(h, "Accept: application/json");
	if (cl->token[0]) {
		snprintf(auth, sizeof auth, "Authorization: Bearer %s", cl->token);
		h = curl_slist_append(h, auth);
		sodium_memzero(auth, sizeof auth);
	}
	if (body) {
		if (!(data = kcs_json_dump(body)))
			return kcs_fail(KCS_EINTERNAL, NULL, "out of memory");
		h = curl_slist_append(h, "Content-Type: application/json");
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, data);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(data));
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	cc = curl_easy_perform(c);
	curl_slist_free_all(h); /* curl copied the header strings; ours is wiped above */
	if (data) {
		sodium_memzero(data, strlen(data));
		free(data);
	}
	if (cc != CURLE_OK && resp.over) {
		rc = kcs_fail(KCS_EINTERNAL, NULL, "%s %s: the server's answer is larger than %d MiB",
		    method, path, RESPONSE_MAX >> 20);
		goto done;
	}
	if (cc != CURLE_OK) {
		if (cc == CURLE_PEER_FAILED_VERIFICATION || cc == CURLE_SSL_CACERT_BADFILE ||
		    cc == CURLE_SSL_CONNECT_ERROR)
			rc = kcs_fail(KCS_EUNREACHABLE, "url",
			    "%s: TLS failed, the server's certificate is not trusted (set ca_file or KCS_CA_FILE): %s",
			    cl->url, errbuf[0] ? errbuf : curl_easy_strerror(cc));
		else
			rc = kcs_fail(KCS_EUNREACHABLE, "url", "cannot reach kcsd at %s: %s",
			    cl->url, errbuf[0] ? errbuf : curl_easy_strerror(cc));
		goto done;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	o = resp.n ? kcs_json_parse(resp.p, resp.n) : NULL;
	if (status >= 200 && status < 300) {
		if (!o && resp.n == 0)
			o = cJSON_CreateObject();
		if (!o) {
			rc = kcs_fail(KCS_EINTERNAL, NULL, "%s %s: the server's answer is not JSON", method, path);
			goto done;
		}
		if (out)
			*out = o;
		else
			cJSON_Delete(o);
		goto done;
	}
	{
		const cJSON *e = cJSON_GetObjectItemCaseSensitive(o, "error");
		const char *msg = kcs_json_str(e, "message"), *field = kcs_json_str(e, "field");
		const char *name = kcs_json_str(e, "code");

		rc = kcs_fail(status_exit(status), field, "%s", msg ? msg : "the server refused the request");
		if (!msg)
			kcs_fail(status_exit(status), NULL, "%s %s: HTTP %ld", method, path, status);
		kcs_seterrname(name);
		if (e)
			cl->error = cJSON_DetachItemFromObjectCaseSensitive(o, "error");
	}
	cJSON_Delete(o);
done:
	if (resp.p) {
		sodium_memzero(resp.p, resp.n);
		free(resp.p);
	}
	return rc;
}

void
kcs_client_close(struct kcs_client *cl)
{
	if (cl->curl)
		curl_easy_cleanup(cl->curl);
	cJSON_Delete(cl->error);
	cl->error = NULL;
	sodium_memzero(cl->token, sizeof cl->token);
	cl->curl = NULL;
}

char *
kcs_url_escape(struct kcs_client *cl, const char *s)
{
	return curl_easy_escape(cl->curl, s, 0);
}

void
kcs_free(void *p)
{
	curl_free(p);
}
