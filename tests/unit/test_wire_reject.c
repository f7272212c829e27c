/* test_wire_reject.c: to be written; 77 = skipped */
int main(void);
int main(void) { return 77; }
