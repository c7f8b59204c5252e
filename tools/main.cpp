// Placeholder entry; the subcommands land in tools/cli_*.cpp.
int main() { return 0; }
