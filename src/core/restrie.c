/* restrie.c: to be written */
