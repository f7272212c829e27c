/* tap.c: to be written */
