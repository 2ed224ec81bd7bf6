// docs/configuration.md against the code: every key the loader accepts (common/config_keys.h) is
// documented there, and every documented key is accepted, each under the heading of its section.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "common/config.h"
#include "common/config_keys.h"

namespace pvt::config {
namespace {

const std::string kDoc = std::string(PVT_SOURCE_DIR) + "/docs/configuration.md";

struct DocumentedKey {
  std::string section;  // from the row: "tunnel" in `tunnel.remote`
  std::string key;      // "remote"
  std::string heading;  // the section of the heading above the row, empty before the first one
  int line = 0;
};

struct Doc {
  std::vector<DocumentedKey> keys;
  std::map<std::string, bool> headings;  // section name -> written [[name]]
  std::map<std::string, int> heading_count;
};

// Rows whose first cell is `section.key`, and headings "## `[name]`" / "## `[[name]]`".
Doc read_doc() {
  std::ifstream in(kDoc);
  EXPECT_TRUE(in) << "cannot read " << kDoc;
  static const std::regex row(R"(^\|\s*`([a-z_]+)\.([a-z0-9_]+)`\s*\|)");
  static const std::regex heading(R"(^##\s+`(\[\[?)([a-z_]+)(\]\]?)`\s*$)");
  Doc doc;
  std::string current;
  int number = 0;
  for (std::string line; std::getline(in, line);) {
    ++number;
    std::smatch m;
    if (std::regex_match(line, m, heading)) {
      current = m[2];
      const bool array = m[1] == "[[";
      EXPECT_EQ(array, m[3] == "]]") << kDoc << ":" << number << ": unbalanced brackets";
      doc.headings[current] = array;
      ++doc.heading_count[current];
    } else if (line.rfind("## ", 0) == 0) {
      current.clear();  // a heading that is not a section: rows below belong to none
    } else if (std::regex_search(line, m, row)) {
      doc.keys.push_back({m[1], m[2], current, number});
    }
  }
  return doc;
}

std::string dotted(std::string_view section, std::string_view key) {
  return fmt::format("{}.{}", section, key);
}

TEST(ConfigurationDoc, HasKeyTables) {
  Doc doc = read_doc();
  EXPECT_GT(doc.keys.size(), 30u) << "no `section.key` rows found in " << kDoc;
}

TEST(ConfigurationDoc, EveryKeyOfTheCodeIsDocumented) {
  std::set<std::string> documented;
  for (const auto& k : read_doc().keys) documented.insert(dotted(k.section, k.key));
  for (const auto& section : known_sections()) {
    for (auto key : section.keys) {
      EXPECT_TRUE(documented.count(dotted(section.name, key)))
          << "`" << dotted(section.name, key)
          << "` is accepted by the loader (common/config_keys.cpp) but not documented in " << kDoc;
    }
  }
}

TEST(ConfigurationDoc, EveryDocumentedKeyIsInTheCode) {
  for (const auto& k : read_doc().keys) {
    const KnownSection* section = find_known_section(k.section);
    const bool known = section != nullptr && std::find(section->keys.begin(), section->keys.end(),
                                                       k.key) != section->keys.end();
    EXPECT_TRUE(known) << kDoc << ":" << k.line << ": `" << dotted(k.section, k.key)
                       << "` is documented but the loader (common/config_keys.cpp) does not "
                          "accept it";
  }
}

TEST(ConfigurationDoc, EveryKeyIsDocumentedOnceUnderItsSection) {
  std::map<std::string, int> seen;
  for (const auto& k : read_doc().keys) {
    const std::string name = dotted(k.section, k.key);
    EXPECT_EQ(++seen[name], 1) << kDoc << ":" << k.line << ": `" << name
                               << "` is documented more than once";
    EXPECT_EQ(k.heading, k.section) << kDoc << ":" << k.line << ": `" << name
                                    << "` is not under the heading of [" << k.section << "]";
  }
}

TEST(ConfigurationDoc, EverySectionHasItsHeading) {
  Doc doc = read_doc();
  for (const auto& section : known_sections()) {
    const std::string name(section.name);
    auto it = doc.headings.find(name);
    if (it == doc.headings.end()) {
      ADD_FAILURE() << "section [" << name << "] has no heading \"## `"
                    << (section.array_of_tables ? "[[" : "[") << name
                    << (section.array_of_tables ? "]]" : "]") << "`\" in " << kDoc;
      continue;
    }
    EXPECT_EQ(it->second, section.array_of_tables)
        << "[" << name << "] is " << (section.array_of_tables ? "" : "not ")
        << "an array of tables in the code, but its heading in " << kDoc << " says otherwise";
    EXPECT_EQ(doc.heading_count[name], 1) << "[" << name << "] has several headings in " << kDoc;
  }
  for (const auto& [name, array] : doc.headings) {
    EXPECT_NE(find_known_section(name), nullptr)
        << kDoc << " has a heading for [" << name << "], which the loader does not accept";
  }
}

// The loader checks files against the same list: no key of it is reported as unknown.
TEST(ConfigurationDoc, TheLoaderAcceptsEveryListedKey) {
  for (const auto& section : known_sections()) {
    const std::string name(section.name);
    std::string text = section.array_of_tables ? "[[" + name + "]]\n" : "[" + name + "]\n";
    for (auto key : section.keys) text += fmt::format("{} = 1\n", key);
    auto parsed = parse(text, "keys.toml", Command::vps, ParseOptions{.check_files = false});
    if (parsed) continue;  // only type errors are expected, but none is fine too
    for (const auto& p : parsed.error()) {
      EXPECT_EQ(p.message.find("unknown"), std::string::npos) << p.format();
    }
  }
}

}  // namespace
}  // namespace pvt::config
