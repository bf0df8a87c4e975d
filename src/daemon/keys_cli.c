/* hangar — `hangard keys create|list|revoke`: a small signed client of the running daemon's
 * /v1/keys endpoint. Credentials: HANGAR_ADMIN_KEY_ID/HANGAR_ADMIN_SECRET, else the
 * credentials file in --data DIR (default ./hangar-data). Endpoint: --endpoint URL, else
 * HANGAR_ENDPOINT, else http://127.0.0.1:7770. Blocking sockets: this runs as its own short
 * process, never on the daemon's loop.
 */
#include <errno.h>
#include <jansson.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "auth/sigv4.h"
#include "core/buf.h"
#include "daemon/daemon.h"

static void usage(void)
{
    fprintf(stderr,
            "usage: hangard keys create --name NAME (--allow ACTION ... | --policy FILE)\n"
            "       hangard keys list\n"
            "       hangard keys revoke KEY_ID\n"
            "options: --endpoint URL (default $HANGAR_ENDPOINT or http://127.0.0.1:7770)\n"
            "         --data DIR     read the admin key from DIR/credentials when\n"
            "                        HANGAR_ADMIN_KEY_ID/HANGAR_ADMIN_SECRET are not set\n");
}

static int read_credentials(const char *dir, char *id, size_t idcap, char *secret, size_t scap)
{
    char path[1200];
    snprintf(path, sizeof(path), "%s/credentials", dir);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -errno;
    char line[512];
    id[0] = secret[0] = '\0';
    while (fgets(line, sizeof(line), f)) {
        char k[64], v[256];
        if (sscanf(line, " %63[a-z_] = %255s", k, v) != 2)
            continue;
        if (strcmp(k, "aws_access_key_id") == 0)
            snprintf(id, idcap, "%s", v);
        else if (strcmp(k, "aws_secret_access_key") == 0)
            snprintf(secret, scap, "%s", v);
    }
    fclose(f);
    return id[0] && secret[0] ? 0 : HG_EINVAL;
}

/* One signed request; prints the body; returns the HTTP status or <0. */
static int call(const char *endpoint, const char *method, const char *path, const char *body,
                const char *key_id, const char *secret)
{
    char host[256], port[16] = "80";
    if (strncmp(endpoint, "http://", 7) != 0) {
        fprintf(stderr, "hangard keys: endpoint must be http://host:port\n");
        return -1;
    }
    const char *hp = endpoint + 7;
    size_t hl = strcspn(hp, "/");
    snprintf(host, sizeof(host), "%.*s", (int)hl, hp);
    char hostname[256];
    snprintf(hostname, sizeof(hostname), "%s", host);
    char *colon = strrchr(hostname, ':');
    if (colon && !strchr(colon, ']')) {
        snprintf(port, sizeof(port), "%s", colon + 1);
        *colon = '\0';
    }
    char *h = hostname;
    if (h[0] == '[') {
        h++;
        h[strlen(h) - 1] = '\0';
    }
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai;
    if (getaddrinfo(h, port, &hints, &ai) != 0) {
        fprintf(stderr, "hangard keys: cannot resolve %s\n", h);
        return -1;
    }
    int fd = socket(ai->ai_family, ai->ai_socktype, 0);
    if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
        fprintf(stderr, "hangard keys: cannot connect to %s: %s\n", endpoint, strerror(errno));
        freeaddrinfo(ai);
        if (fd >= 0)
            close(fd);
        return -1;
    }
    freeaddrinfo(ai);

    char amz_date[17];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(amz_date, sizeof(amz_date), "%Y%m%dT%H%M%SZ", &tm);
    size_t blen = body ? strlen(body) : 0;
    hg_sigv4_header_t hdrs[3] = {
        {"host", 4, host, strlen(host)},
        {"x-amz-date", 10, amz_date, strlen(amz_date)},
        {"content-type", 12, "application/json", 16},
    };
    hg_sigv4_request_t sreq = {
        .method = method,
        .path = path,
        .path_len = strlen(path),
        .query = "",
        .query_len = 0,
        .headers = hdrs,
        .nheaders = 3,
        .body = body ? body : "",
        .body_len = blen,
    };
    char auth[1024];
    if (hg_sigv4_sign(&sreq, key_id, secret, "us-east-1", "hangar", amz_date, auth, sizeof(auth)) <
        0) {
        fprintf(stderr, "hangard keys: cannot sign the request\n");
        close(fd);
        return -1;
    }
    hg_buf_t req;
    hg_buf_init(&req);
    hg_buf_printf(&req,
                  "%s %s HTTP/1.1\r\nHost: %s\r\nX-Amz-Date: %s\r\nContent-Type: "
                  "application/json\r\nAuthorization: %s\r\nContent-Length: %zu\r\n"
                  "Connection: close\r\n\r\n",
                  method, path, host, amz_date, auth, blen);
    if (body)
        hg_buf_puts(&req, body);
    size_t off = 0;
    while (off < req.len) {
        ssize_t w = write(fd, req.data + off, req.len - off);
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    hg_buf_free(&req);
    hg_buf_t resp;
    hg_buf_init(&resp);
    char tmp[4096];
    ssize_t r;
    while ((r = read(fd, tmp, sizeof(tmp))) > 0 && resp.len < (1u << 24))
        hg_buf_append(&resp, tmp, (size_t)r);
    close(fd);
    int status = -1;
    if (resp.len > 12)
        status = atoi(resp.data + 9);
    char *b = resp.data ? strstr(resp.data, "\r\n\r\n") : NULL;
    if (b) {
        json_t *j = json_loads(b + 4, 0, NULL);
        if (j) {
            char *pretty = json_dumps(j, JSON_INDENT(2));
            printf("%s\n", pretty);
            free(pretty);
            json_decref(j);
        } else {
            printf("%s\n", b + 4);
        }
    }
    hg_buf_free(&resp);
    return status;
}

int hg_keys_cli(int argc, char **argv)
{
    const char *endpoint = getenv("HANGAR_ENDPOINT");
    const char *data = getenv("HANGAR_DATA");
    const char *name = NULL, *policy_file = NULL, *verb = NULL, *arg = NULL;
    json_t *allow = json_array();
    int rc = 2;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int more = i + 1 < argc;
        if (strcmp(a, "--endpoint") == 0 && more)
            endpoint = argv[++i];
        else if (strcmp(a, "--data") == 0 && more)
            data = argv[++i];
        else if (strcmp(a, "--name") == 0 && more)
            name = argv[++i];
        else if (strcmp(a, "--policy") == 0 && more)
            policy_file = argv[++i];
        else if (strcmp(a, "--allow") == 0 && more)
            json_array_append_new(allow, json_string(argv[++i]));
        else if (a[0] == '-') {
            usage();
            goto out;
        } else if (verb == NULL)
            verb = a;
        else if (arg == NULL)
            arg = a;
        else {
            usage();
            goto out;
        }
    }
    if (verb == NULL) {
        usage();
        goto out;
    }
    if (endpoint == NULL)
        endpoint = "http://127.0.0.1:7770";
    char id[256], secret[256];
    const char *eid = getenv("HANGAR_ADMIN_KEY_ID"), *esec = getenv("HANGAR_ADMIN_SECRET");
    if (eid && *eid && esec && *esec) {
        snprintf(id, sizeof(id), "%s", eid);
        snprintf(secret, sizeof(secret), "%s", esec);
    } else if (read_credentials(data ? data : "./hangar-data", id, sizeof(id), secret,
                                sizeof(secret)) < 0) {
        fprintf(stderr, "hangard keys: no admin credentials: set HANGAR_ADMIN_KEY_ID and "
                        "HANGAR_ADMIN_SECRET, or pass --data DIR holding the credentials file\n");
        goto out;
    }
    int status;
    if (strcmp(verb, "create") == 0) {
        if (name == NULL || (policy_file == NULL && json_array_size(allow) == 0)) {
            usage();
            goto out;
        }
        json_t *policy;
        if (policy_file) {
            json_error_t jerr;
            policy = json_load_file(policy_file, 0, &jerr);
            if (policy == NULL) {
                fprintf(stderr, "hangard keys: %s:%d: %s\n", policy_file, jerr.line, jerr.text);
                goto out;
            }
        } else {
            policy = json_pack("{s:s,s:[{s:s,s:O,s:s}]}", "Version", "2012-10-17", "Statement",
                               "Effect", "Allow", "Action", allow, "Resource", "*");
        }
        json_t *body = json_pack("{s:s,s:o}", "name", name, "policy", policy);
        char *text = json_dumps(body, JSON_COMPACT);
        status = call(endpoint, "POST", "/v1/keys", text, id, secret);
        free(text);
        json_decref(body);
    } else if (strcmp(verb, "list") == 0) {
        status = call(endpoint, "GET", "/v1/keys", NULL, id, secret);
    } else if (strcmp(verb, "revoke") == 0 && arg) {
        char path[256];
        snprintf(path, sizeof(path), "/v1/keys/%s", arg);
        status = call(endpoint, "DELETE", path, NULL, id, secret);
    } else {
        usage();
        goto out;
    }
    rc = status >= 200 && status < 300 ? 0 : 1;
out:
    json_decref(allow);
    return rc;
}
