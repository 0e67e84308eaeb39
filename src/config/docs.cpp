// Documentation generated from the key table: key_docs() and the Markdown tables of docs/config.md.
#include <string>

#include "distill/config/config.h"
#include "schema.h"

namespace distill::config {
namespace {

// A Markdown table cell: pipes would end the cell early.
std::string cell(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '|') out += '\\';
    out += c;
  }
  return out;
}

std::vector<KeyDoc> make_key_docs() {
  const Config defaults = schema::documented_defaults();
  std::vector<KeyDoc> docs;
  for (const auto& key : schema::keys()) {
    docs.push_back({key.path(), schema::type_name(schema::key_type(key)), schema::value_of(key, defaults).dump(),
                    key.constraint.text(), key.description});
  }
  return docs;
}

}  // namespace

const std::vector<KeyDoc>& key_docs() {
  static const std::vector<KeyDoc> docs = make_key_docs();
  return docs;
}

std::string docs_markdown() {
  std::string md;
  for (const auto& section : schema::sections()) {
    md += "### " + section.name + "\n\n" + section.description + "\n\n";
    md += "| key | type | default | constraint | description |\n";
    md += "|---|---|---|---|---|\n";
    for (const auto& doc : key_docs()) {
      if (doc.path.compare(0, section.name.size() + 1, section.name + ".") != 0) continue;
      md += "| `" + doc.path + "` | " + doc.type + " | `" + cell(doc.default_value) + "` | " + cell(doc.constraint) +
            " | " + cell(doc.description) + " |\n";
    }
    md += "\n";
  }
  return md;
}

}  // namespace distill::config
