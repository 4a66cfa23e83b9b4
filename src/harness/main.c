/* placeholder: the epr command is being written */
int main(void) { return 0; }
