// GPT-2's reversible byte <-> printable-character alphabet used by byte-level BPE vocabularies.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace distill::tokenizer::byte_level {

// The character byte `b` is written as: printable Latin-1 bytes stand for themselves, the other 68
// bytes map to U+0100.. in byte order.
char32_t char_of_byte(std::uint8_t b);

// The bytes a vocabulary string stands for; false when it has a character outside the alphabet.
bool to_bytes(std::string_view token, std::string& out);

// The vocabulary spelling of raw bytes.
std::string from_bytes(std::string_view bytes);

}  // namespace distill::tokenizer::byte_level
