/* solo5.c: to be written */
