/*
 * Escaping of untrusted text for the client's output. Everything a daemon
 * sends (messages, console lines, arguments, bridge names) is printed
 * through these, so that a hostile peer cannot drive the user's terminal
 * or break the JSON.
 */
#ifndef PETREL_CLIENT_ESCAPE_H
#define PETREL_CLIENT_ESCAPE_H

#include <stddef.h>

#include "util.h"

/* Text for a terminal: C0 controls, DEL and the C1 controls (U+0080 to
 * U+009F, which some terminals obey) become \n, \t, \r, \xHH or \u00HH;
 * invalid UTF-8 bytes become \xHH. Everything else is copied. */
int pt_text_escape(pt_buf *out, const char *s, size_t n);

/* A JSON string literal with its quotes. Invalid UTF-8 becomes U+FFFD. */
int pt_json_string(pt_buf *out, const char *s, size_t n);

/* An argument for a one-line list: copied as is when it is non-empty and
 * has no blank, quote, backslash or control character; otherwise in double
 * quotes with \" and \\ and the escapes of pt_text_escape. */
int pt_text_quote_arg(pt_buf *out, const char *s, size_t n);

#endif
