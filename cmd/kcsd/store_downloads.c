/* store_downloads.c: the download area and the activation rules. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_impl.h"

int
store_download_list(struct dbtx *tx, cJSON **out)
{
	return rows(tx, out, "SELECT name, title, version, size, sha256, signature, updated_at FROM downloads"
	    " ORDER BY name", "");
}

/* one file, with its content (hex) when content is set */
int
store_download_get(struct dbtx *tx, const char *name, int content, cJSON **out)
{
	return content
	    ? row(tx, out, "SELECT name, title, version, size, sha256, signature, updated_at, content FROM downloads"
	        " WHERE name = ?", "s", name)
	    : row(tx, out, "SELECT name, title, version, size, sha256, signature, updated_at FROM downloads"
	        " WHERE name = ?", "s", name);
}

/* a file added (version 1) or replaced (the next version) */
int
store_download_put(struct dbtx *tx, const char *name, const char *title, long long version, const uint8_t *p,
    size_t n, const char *sha256, const char *signature, long long now)
{
	int rc = run(tx, "INSERT INTO downloads (name, title, version, content, size, sha256, signature, updated_at)"
	    " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET title = excluded.title,"
	    " version = excluded.version, content = excluded.content, size = excluded.size,"
	    " sha256 = excluded.sha256, signature = excluded.signature, updated_at = excluded.updated_at"
	    " WHERE downloads.version = excluded.version - 1", "ssibissi", name, title, version, p, n,
	    (long long)n, sha256, signature, now);

	return changed(rc);
}

int
store_activation_add(struct dbtx *tx, const char *model, const char *from, const char *to, const char *download,
    long long now, long long *id)
{
	return insert_id(tx, id, "INSERT INTO activation_rules (model, from_date, to_date, download, created_at)"
	    " VALUES (?, ?, ?, ?, ?) RETURNING id", "ssssi", model, from, to, download, now);
}

int
store_activation_list(struct dbtx *tx, cJSON **out)
{
	return rows(tx, out, "SELECT id, model, from_date, to_date, download, created_at FROM activation_rules"
	    " ORDER BY id", "");
}

/* the instructions for a model built on a day: a rule for the model before
 * a rule for any model ('*'), then the older rule */
int
store_activation_for(struct dbtx *tx, const char *model, const char *date, cJSON **out)
{
	return row(tx, out, "SELECT r.id AS rule_id, d.name, d.title, d.version, d.sha256 FROM activation_rules r"
	    " JOIN downloads d ON d.name = r.download WHERE (r.model = ? OR r.model = '*')"
	    " AND r.from_date <= ? AND r.to_date >= ? ORDER BY r.model = '*', r.id LIMIT 1", "sss", model, date, date);
}
