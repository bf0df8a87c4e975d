/* hangar — intrusive doubly linked list (circular, with a sentinel head), libuv QUEUE style. */
#ifndef HG_CORE_LIST_H
#define HG_CORE_LIST_H

#include <stddef.h>

typedef struct hg_list {
    struct hg_list *prev, *next;
} hg_list_t;

#define hg_container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

static inline void hg_list_init(hg_list_t *h)
{
    h->prev = h->next = h;
}
static inline int hg_list_empty(const hg_list_t *h)
{
    return h->next == h;
}
/* A node not in any list (after hg_list_init or hg_list_remove) is self-linked. */
static inline int hg_list_linked(const hg_list_t *n)
{
    return n->next != n;
}
static inline void hg_list_insert_tail(hg_list_t *h, hg_list_t *n)
{
    n->next = h;
    n->prev = h->prev;
    h->prev->next = n;
    h->prev = n;
}
static inline void hg_list_remove(hg_list_t *n)
{
    n->prev->next = n->next;
    n->next->prev = n->prev;
    n->prev = n->next = n;
}
#define hg_list_foreach(pos, head) for (pos = (head)->next; pos != (head); pos = pos->next)
#define hg_list_foreach_safe(pos, tmp, head)                                                       \
    for (pos = (head)->next, tmp = pos->next; pos != (head); pos = tmp, tmp = pos->next)

#endif
