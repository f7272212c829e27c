/* der.c: to be written */
