/* hangar — the PROXY protocol v2 header a standby puts before each connection it relays, signed
 * with the cluster secret, so that the owner sees the client's address (docs/cluster.md).
 *
 * The header (HAProxy's PROXY protocol, version 2; always exactly this shape, nothing else is
 * accepted):
 *
 *     12  signature  \r\n\r\n\0\r\nQUIT\n
 *      1  0x21       version 2, command PROXY
 *      1  0x11|0x21  TCP over IPv4 | TCP over IPv6
 *      2  length     of what follows, big-endian: 12 + 43 (IPv4) or 36 + 43 (IPv6)
 *  12|36  addresses  source address, destination address, source port, destination port
 *      1  0xE0       TLV type HG_PROXYHDR_TLV_AUTH (the range the spec leaves to applications)
 *      2  40         TLV length
 *      8  time       Unix seconds when the relay sent it, big-endian
 *     32  HMAC       HMAC-SHA256(cluster secret, every byte of the header before it)
 *
 * A header verifies when its HMAC matches and its time is within HG_PROXYHDR_WINDOW_S of this
 * node's clock (docs/limits.md). Within the window a recorded header could be replayed by whoever
 * saw it; that only lets them claim an address some client had moments ago, never one of their
 * choosing, which is acceptable for an address claim (it carries no other authority).
 *
 * Pure functions; any thread.
 */
#ifndef HG_HTTP_PROXYHDR_H
#define HG_HTTP_PROXYHDR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* The longest header read (ours: 16 + 12 + 43 = 71 bytes for IPv4, 95 for IPv6); a length field
 * saying more is refused before anything more is read. */
#define HG_PROXYHDR_MAX 128
/* A header's time must be within this many seconds of the receiver's clock, either way. */
#define HG_PROXYHDR_WINDOW_S 30
#define HG_PROXYHDR_TLV_AUTH 0xE0
/* The cluster secret's length bounds (bytes); it is used as the HMAC key as it is. */
#define HG_PROXYHDR_KEY_MIN 32
#define HG_PROXYHDR_KEY_MAX 255

/* Write the header for a connection from src to dst (both AF_INET or both AF_INET6; a dst of
 * another family is sent as zeros) signed with key at time now_s into out. Returns its length,
 * or 0 when src is neither IPv4 nor IPv6. */
size_t hg_proxyhdr_build(uint8_t out[HG_PROXYHDR_MAX], const struct sockaddr *src,
                         const struct sockaddr *dst, const char *key, size_t key_len,
                         int64_t now_s);

/* Look at the first len bytes a connection sent. Returns:
 *   > 0            a whole header that verifies, of that many bytes: *src is the client's
 *                  address (AF_INET or AF_INET6, with its port)
 *   0              the bytes so far are a prefix of a header: read more (at most
 *                  HG_PROXYHDR_MAX bytes in all)
 *   HG_ENOTFOUND   the stream does not start with the PROXY signature (not a header at all)
 *   HG_EINVAL      the signature, then something that is not our header (another version or
 *                  command, UDP, UNIX, other TLVs, too long, a missing or malformed auth TLV)
 *   HG_EBADSIG     the HMAC does not match the key
 *   HG_ESKEW       the HMAC matches, the time is outside HG_PROXYHDR_WINDOW_S
 * On an error *why says what was wrong (a static string, for logs). */
int hg_proxyhdr_parse(const uint8_t *data, size_t len, const char *key, size_t key_len,
                      int64_t now_s, struct sockaddr_storage *src, const char **why);

/* The length of the PROXY header that starts data, as its length field says, without verifying
 * it: for a loop that only answers 503 (daemon/interim.c) and must find the request behind a
 * relay's header, trusting nothing in it. > 0 that length (<= HG_PROXYHDR_MAX, all of it in
 * data), 0 read more, HG_ENOTFOUND no signature, HG_EINVAL a length over HG_PROXYHDR_MAX. */
int hg_proxyhdr_skip(const uint8_t *data, size_t len);

#endif
