#include "cli/app.h"

int main(int argc, char** argv) { return pvt::cli::run(argc, argv); }
