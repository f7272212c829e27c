/* wire_print.c: to be written */
