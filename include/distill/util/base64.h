// Base64 (RFC 4648, standard alphabet, '=' padding): binary blobs such as RNG states inside JSON.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace distill {

std::string base64_encode(std::string_view bytes);
// nullopt for anything that is not canonical padded base64 (wrong length, bad character, bad padding).
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace distill
