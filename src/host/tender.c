/* tender.c: to be written */
