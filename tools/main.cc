// The ckptdb command-line tool: everything lives in testable command functions (tools/cli.h).
#include <iostream>

#include "tools/cli.h"

int main(int argc, char** argv) { return ckptdb::cli::Run(argc, argv, std::cout, std::cerr); }
