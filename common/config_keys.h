// The sections and keys the config file accepts: the one list the loader checks a file against
// ("unknown key") and docs/configuration.md documents (tests/unit/config/docs_test.cpp fails when
// the two differ). Key names are a contract with Ansible and users: add keys, never rename them.
#pragma once

#include <string_view>
#include <vector>

namespace pvt::config {

struct KnownSection {
  std::string_view name;  // the TOML table: "pve", "guest", ...
  bool array_of_tables;   // written [[name]] (one table per guest or tunnel), else [name]
  std::vector<std::string_view> keys;  // every key the section accepts, in documentation order
};

// Every section, in the order of the documentation and of the "did you mean" suggestions.
const std::vector<KnownSection>& known_sections();

// The section called `name`, or nullptr.
const KnownSection* find_known_section(std::string_view name);

// The names of all sections: the keys the top level of the file accepts.
const std::vector<std::string_view>& known_section_names();

}  // namespace pvt::config
