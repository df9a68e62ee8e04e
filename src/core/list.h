/* list: an intrusive doubly linked list with a head pointer, for objects that must be
 * found again at teardown (connections per worker). Embed a struct list_node; recover
 * the object with list_entry. */
#ifndef PTYHUB_LIST_H
#define PTYHUB_LIST_H

#include <stddef.h>

struct list_node {
    struct list_node *prev, *next;
};

#define list_entry(node, type, member) ((type *)((char *)(node)-offsetof(type, member)))

/* Adds n at the front of the list. */
static inline void list_push(struct list_node **head, struct list_node *n)
{
    n->prev = NULL;
    n->next = *head;
    if (*head)
        (*head)->prev = n;
    *head = n;
}

/* Takes n out of the list; a node that is not in it is left alone. */
static inline void list_remove(struct list_node **head, struct list_node *n)
{
    if (n->prev)
        n->prev->next = n->next;
    else if (*head == n)
        *head = n->next;
    if (n->next)
        n->next->prev = n->prev;
    n->prev = n->next = NULL;
}

#endif
