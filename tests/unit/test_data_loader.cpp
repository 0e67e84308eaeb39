// Loader: file order, packing against the hand-joined stream, padding and loss masks, shuffling by
// seed, ranks, exact resume from a saved position, and the prefetch thread's shutdown.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <chrono>
#include <fstream>
#include <future>
#include <set>
#include <thread>

#include "data_test_helpers.h"
#include "distill/data/loader.h"
#include "distill/data/permutation.h"

namespace distill::data {
namespace {

using namespace test;
using testing::TempDir;

std::vector<std::int64_t> row(const at::Tensor& t, std::int64_t r) {
  const at::Tensor x = t[r].contiguous();
  return std::vector<std::int64_t>(x.data_ptr<std::int64_t>(), x.data_ptr<std::int64_t>() + x.numel());
}

// The stream packing reads: each document followed by EOS.
std::vector<std::int64_t> joined(const std::vector<std::vector<std::int64_t>>& docs) {
  std::vector<std::int64_t> s;
  for (const auto& d : docs) {
    s.insert(s.end(), d.begin(), d.end());
    s.push_back(kGpt2Eos);
  }
  return s;
}

LoaderOptions opts(std::int64_t T, std::int64_t B, bool packing, bool shuffle, std::int64_t prefetch = 2) {
  LoaderOptions o;
  o.seq_len = T;
  o.micro_batch = B;
  o.packing = packing;
  o.shuffle = shuffle;
  o.seed = 7;
  o.prefetch = prefetch;
  return o;
}

// The first input token of each row identifies its sample in these tests.
std::vector<std::int64_t> first_tokens(const Batch& b) {
  std::vector<std::int64_t> out;
  for (std::int64_t r = 0; r < b.input_ids.size(0); ++r) out.push_back(b.input_ids[r][0].item<std::int64_t>());
  return out;
}

bool same(const Batch& a, const Batch& b) {
  const bool masks = a.attention_mask.defined() == b.attention_mask.defined() &&
                     (!a.attention_mask.defined() || at::equal(a.attention_mask, b.attention_mask));
  bool spans = a.spans.size() == b.spans.size();
  for (std::size_t r = 0; spans && r < a.spans.size(); ++r) {
    spans = a.spans[r].size() == b.spans[r].size();
    for (std::size_t k = 0; spans && k < a.spans[r].size(); ++k) {
      const Span &x = a.spans[r][k], &y = b.spans[r][k];
      spans = x.column == y.column && x.document == y.document && x.token_begin == y.token_begin && x.token_end == y.token_end;
    }
  }
  return at::equal(a.input_ids, b.input_ids) && at::equal(a.labels, b.labels) && masks && spans && a.epoch == b.epoch;
}

// shuffle off, packing off: one sample per input line, in file order, EOS appended, padded with
// labels -100 and attention mask 0.
TEST(DataLoader, FileOrderOneSamplePerLine) {
  TempDir dir;
  const std::vector<std::string> lines = {"First line of the file.", "Second.", "A third, longer line of text here.",
                                          "4"};
  std::string text;
  for (const auto& l : lines) text += l + "\n";
  testing::write_file(dir.file("in.txt"), text);
  build_dataset(gpt2(), options({dir.file("in.txt")}, dir.file("out")));
  const std::int64_t T = 12;
  Loader loader(corpus_of(Dataset::open(dir.file("out"))), opts(T, 1, false, false));
  for (std::size_t i = 0; i < lines.size() * 2; ++i) {  // two epochs, the same order
    const auto b = loader.next();
    ASSERT_TRUE(b);
    ASSERT_TRUE(b->attention_mask.defined());
    auto ids = gpt2().encode_ids(lines[i % lines.size()]);
    std::vector<std::int64_t> w(ids.begin(), ids.end());
    w.push_back(kGpt2Eos);
    ASSERT_LE(static_cast<std::int64_t>(w.size()), T + 1);
    std::vector<std::int64_t> in(T, kGpt2Eos), lab(T, -100), mask(T, 0);
    for (std::size_t t = 0; t + 1 < w.size(); ++t) {
      in[t] = w[t];
      lab[t] = w[t + 1];
      mask[t] = 1;
    }
    EXPECT_EQ(row(b->input_ids, 0), in) << i;
    EXPECT_EQ(row(b->labels, 0), lab) << i;
    EXPECT_EQ(row(b->attention_mask, 0), mask) << i;
    EXPECT_EQ(b->epoch, static_cast<std::int64_t>(i / lines.size()));
    EXPECT_EQ(b->input_ids.scalar_type(), at::kLong);
  }
}

TEST(DataLoader, PackingReadsTheJoinedStream) {
  TempDir dir;
  const auto docs = numbered_docs({5, 7, 3, 9, 1});
  const auto stream = joined(docs);  // 30 tokens
  const std::int64_t T = 4;
  Loader loader(corpus_of(dataset_of(dir, docs)), opts(T, 3, true, false));
  const std::int64_t n = (static_cast<std::int64_t>(stream.size()) - 1) / T;  // 7 sequences
  EXPECT_EQ(loader.samples_per_epoch(), n);
  for (std::int64_t k = 0; k < 2 * n;) {
    const auto b = loader.next();
    ASSERT_TRUE(b);
    EXPECT_FALSE(b->attention_mask.defined());  // full rows: no mask
    for (std::int64_t r = 0; r < b->input_ids.size(0); ++r, ++k) {
      const std::int64_t s = k % n;
      const std::vector<std::int64_t> in(stream.begin() + s * T, stream.begin() + s * T + T);
      const std::vector<std::int64_t> lab(stream.begin() + s * T + 1, stream.begin() + s * T + T + 1);
      EXPECT_EQ(row(b->input_ids, r), in) << k;
      EXPECT_EQ(row(b->labels, r), lab) << k;
      // Spans name where each token came from.
      const auto full = row(b->input_ids, r);
      for (const Span& sp : b->spans[static_cast<std::size_t>(r)]) {
        for (std::int64_t t = sp.token_begin; t < sp.token_end; ++t) {
          const std::int64_t col = sp.column + t - sp.token_begin;
          const std::int64_t tok = col < T ? full[static_cast<std::size_t>(col)] : lab[static_cast<std::size_t>(T - 1)];
          EXPECT_EQ(tok, docs[static_cast<std::size_t>(sp.document)][static_cast<std::size_t>(t)]);
        }
      }
    }
  }
}

TEST(DataLoader, PaddingSplitsLongDocumentsIntoWindows) {
  TempDir dir;
  const auto docs = numbered_docs({20, 3});
  const auto ds = dataset_of(dir, docs);
  const std::int64_t T = 8;
  // 20 tokens + EOS = 21: windows [0, 9), [8, 17), [16, 21) of doc 0, then doc 1.
  Loader loader(corpus_of(ds), opts(T, 4, false, false));
  EXPECT_EQ(loader.samples_per_epoch(), 4);
  auto b = loader.next();
  ASSERT_TRUE(b);
  std::vector<std::int64_t> u = docs[0];
  u.push_back(kGpt2Eos);
  for (std::int64_t w = 0; w < 3; ++w) {
    std::vector<std::int64_t> in(T, kGpt2Eos), lab(T, -100);
    const std::int64_t begin = w * T, end = std::min<std::int64_t>(begin + T + 1, 21);
    for (std::int64_t t = begin; t + 1 < end; ++t) {
      in[static_cast<std::size_t>(t - begin)] = u[static_cast<std::size_t>(t)];
      lab[static_cast<std::size_t>(t - begin)] = u[static_cast<std::size_t>(t + 1)];
    }
    EXPECT_EQ(row(b->input_ids, w), in) << w;
    EXPECT_EQ(row(b->labels, w), lab) << w;
  }
  EXPECT_EQ(row(b->labels, 3), (std::vector<std::int64_t>{2001, 2002, kGpt2Eos, -100, -100, -100, -100, -100}));
  // Cut instead: the first window only.
  auto cut = opts(T, 4, false, false);
  cut.split_long = false;
  EXPECT_EQ(Loader(corpus_of(ds), cut).samples_per_epoch(), 2);
}

TEST(DataLoader, PermutationIsABijection) {
  for (std::uint64_t n : {1u, 2u, 3u, 5u, 64u, 100u, 1000u, 4097u}) {
    const Permutation p(n, 42, 3);
    std::set<std::uint64_t> seen;
    for (std::uint64_t i = 0; i < n; ++i) seen.insert(p(i));
    EXPECT_EQ(seen.size(), n) << n;
    EXPECT_EQ(*seen.rbegin(), n - 1) << n;
  }
  const Permutation a(1000, 1, 0), b(1000, 2, 0), c(1000, 1, 1);
  int differ_seed = 0, differ_epoch = 0, moved = 0;
  for (std::uint64_t i = 0; i < 1000; ++i) {
    differ_seed += a(i) != b(i);
    differ_epoch += a(i) != c(i);
    moved += a(i) != i;
  }
  EXPECT_GT(differ_seed, 900);
  EXPECT_GT(differ_epoch, 900);
  EXPECT_GT(moved, 900);
}

std::vector<std::int64_t> epoch_order(Loader& loader, std::int64_t n) {
  std::vector<std::int64_t> out;
  while (static_cast<std::int64_t>(out.size()) < n) {
    const auto b = loader.next();
    for (auto t : first_tokens(*b)) out.push_back(t);
  }
  return out;
}

TEST(DataLoader, ShufflingIsSeededAndNewEachEpoch) {
  TempDir dir;
  std::vector<int> lengths(40, 3);
  const auto ds = dataset_of(dir, numbered_docs(lengths));
  auto o = opts(8, 4, false, true);
  Loader a(corpus_of(ds), o), b(corpus_of(ds), o);
  const auto ea = epoch_order(a, 80), eb = epoch_order(b, 80);
  EXPECT_EQ(ea, eb);  // same seed, same order
  const std::vector<std::int64_t> e0(ea.begin(), ea.begin() + 40), e1(ea.begin() + 40, ea.end());
  std::set<std::int64_t> s0(e0.begin(), e0.end()), s1(e1.begin(), e1.end());
  EXPECT_EQ(s0.size(), 40u);  // each epoch holds every document once
  EXPECT_EQ(s0, s1);
  EXPECT_NE(e0, e1);  // in a new order
  std::vector<std::int64_t> sorted = e0;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_NE(e0, sorted);
  o.seed = 8;
  Loader c(corpus_of(ds), o);
  EXPECT_NE(epoch_order(c, 40), e0);
}

TEST(DataLoader, RanksTakeDisjointSamples) {
  TempDir dir;
  const auto ds = dataset_of(dir, numbered_docs(std::vector<int>(10, 2)));
  std::set<std::int64_t> all;
  for (std::int64_t rank = 0; rank < 3; ++rank) {
    auto o = opts(4, 1, false, true);
    o.rank = rank;
    o.world_size = 3;
    o.repeat = false;
    Loader l(corpus_of(ds), o);
    std::int64_t count = 0;
    while (const auto b = l.next()) {
      all.insert(first_tokens(*b)[0]);
      ++count;
    }
    EXPECT_EQ(count, rank == 0 ? 4 : 3) << rank;
  }
  EXPECT_EQ(all.size(), 10u);
}

TEST(DataLoader, OnePassEndsWithAShortBatch) {
  TempDir dir;
  const auto ds = dataset_of(dir, numbered_docs({2, 2, 2, 2, 2}));
  for (std::int64_t prefetch : {0, 2}) {
    auto o = opts(4, 2, false, false, prefetch);
    o.repeat = false;
    Loader l(corpus_of(ds), o);
    EXPECT_EQ(l.next()->input_ids.size(0), 2);
    EXPECT_EQ(l.next()->input_ids.size(0), 2);
    const auto last = l.next();
    ASSERT_TRUE(last);
    EXPECT_EQ(first_tokens(*last), std::vector<std::int64_t>{5000});
    EXPECT_FALSE(l.next());
    EXPECT_FALSE(l.next());
  }
  // Packing in one pass keeps the last partial sequence, padded.
  auto o = opts(4, 8, true, false);
  o.repeat = false;
  Loader p(corpus_of(ds), o);
  const auto b = p.next();  // 15 stream tokens: sequences [0,5) [4,9) [8,13) [12,15)
  ASSERT_EQ(b->input_ids.size(0), 4);
  ASSERT_TRUE(b->attention_mask.defined());
  EXPECT_EQ(row(b->labels, 3), (std::vector<std::int64_t>{5001, kGpt2Eos, -100, -100}));
  EXPECT_EQ(row(b->attention_mask, 3), (std::vector<std::int64_t>{1, 1, 0, 0}));
  EXPECT_FALSE(p.next());
}

struct ResumeCase {
  bool packing, shuffle;
  std::int64_t prefetch;
};

void PrintTo(const ResumeCase& c, std::ostream* os) {
  *os << (c.packing ? "packing" : "padding") << (c.shuffle ? ", shuffled" : ", in order") << ", prefetch "
      << c.prefetch;
}

class DataLoaderResume : public ::testing::TestWithParam<ResumeCase> {};

// Stop after k batches, save the position (through its JSON text), make a new loader, seek: the
// remaining batches equal those of the uninterrupted loader, across epoch ends.
TEST_P(DataLoaderResume, ContinuesWithTheNextUnseenSample) {
  const ResumeCase c = GetParam();
  TempDir dir;
  const auto ds = dataset_of(dir, numbered_docs({5, 12, 3, 9, 1, 7, 30, 4, 6, 2, 11}));
  const auto o = opts(6, 3, c.packing, c.shuffle, c.prefetch);
  constexpr int kTotal = 14;  // several epochs
  std::vector<Batch> reference;
  {
    Loader l(corpus_of(ds), o);
    for (int i = 0; i < kTotal; ++i) reference.push_back(*l.next());
  }
  for (int k : {0, 1, 4, 9, 13}) {
    std::string saved;
    {
      Loader first(corpus_of(ds), o);
      for (int i = 0; i < k; ++i) ASSERT_TRUE(same(*first.next(), reference[static_cast<std::size_t>(i)]));
      saved = first.position().dump();
    }
    Loader second(corpus_of(ds), o);
    second.seek(Json::parse(saved));
    EXPECT_EQ(second.position().dump(), saved);
    for (int i = k; i < kTotal; ++i) {
      EXPECT_TRUE(same(*second.next(), reference[static_cast<std::size_t>(i)])) << "k " << k << " batch " << i;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Modes, DataLoaderResume,
                         ::testing::Values(ResumeCase{true, false, 2}, ResumeCase{true, true, 2},
                                           ResumeCase{false, false, 2}, ResumeCase{false, true, 2},
                                           ResumeCase{true, true, 0}, ResumeCase{false, true, 0}),
                         [](const ::testing::TestParamInfo<ResumeCase>& i) {
                           return std::string(i.param.packing ? "Packing" : "Padding") +
                                  (i.param.shuffle ? "Shuffled" : "InOrder") + (i.param.prefetch ? "Prefetch" : "Sync");
                         });

TEST(DataLoader, PositionOfOtherOptionsIsAcceptedMalformedIsNot) {
  TempDir dir;
  const auto ds = dataset_of(dir, numbered_docs(std::vector<int>(12, 5)));
  Loader a(corpus_of(ds), opts(4, 2, true, true));
  a.next();
  const Json pos = a.position();
  Loader b(corpus_of(ds), opts(8, 2, true, true));  // another seq_len: warned, continued
  EXPECT_NO_THROW(b.seek(pos));
  EXPECT_TRUE(b.next());
  Json bad = pos;
  bad.erase("next");
  EXPECT_CONTAINS(error_of<InputError>([&] { b.seek(bad); }), "missing or invalid \"next\"");
  b.seek(Json::object());  // the start
  EXPECT_EQ(b.position()["next"], 0);
  EXPECT_EQ(b.position()["epoch"], 0);
}

TEST(DataLoader, TooLittleDataForOnePackedSequence) {
  TempDir dir;
  const auto ds = dataset_of(dir, numbered_docs({3}));
  EXPECT_CONTAINS(error_of<InputError>([&] { Loader l(corpus_of(ds), opts(8, 1, true, false)); }),
                  "fewer than one packed sequence of seq_len + 1 = 9");
}

// Destroying a loader whose prefetch thread waits on a full queue (or has not started, or is mid
// epoch) returns promptly.
TEST(DataLoader, PrefetchThreadStopsWhenTheLoaderIsDestroyed) {
  TempDir dir;
  const auto ds = dataset_of(dir, numbered_docs(std::vector<int>(50, 20)));
  for (int taken : {0, 1, 3}) {
    // On a thread of its own, so that a hang fails the test instead of blocking it.
    auto finished = std::make_shared<std::promise<void>>();
    std::future<void> done = finished->get_future();
    std::thread worker([ds, taken, finished] {
      {
        Loader l(corpus_of(ds), opts(8, 2, true, true, 4));
        for (int i = 0; i < taken; ++i) l.next();
        std::this_thread::sleep_for(std::chrono::milliseconds(20));  // let the queue fill
      }
      finished->set_value();
    });
    if (done.wait_for(std::chrono::seconds(20)) != std::future_status::ready) {
      worker.detach();
      FAIL() << "destroying a loader with " << taken << " batches taken hangs";
    }
    worker.join();
  }
}

// A shard damaged after it was opened is an InputError from next(), raised on the prefetch thread
// and rethrown to the caller (and again on later calls), never a wild read.
TEST(DataLoader, DamagedShardErrorsReachTheCaller) {
  TempDir dir;
  const auto ds = dataset_of(dir, numbered_docs({4, 4, 4, 4}));
  {
    std::fstream f(dir.file("ds/shard-00000.index"), std::ios::in | std::ios::out | std::ios::binary);
    const std::uint64_t huge = 1u << 30;
    f.seekp(32 + 8 * 2);  // token_offsets[2]
    f.write(reinterpret_cast<const char*>(&huge), 8);
  }
  for (std::int64_t prefetch : {0, 2}) {
    Loader l(corpus_of(ds), opts(4, 4, true, false, prefetch));  // packing: nothing read before next()
    EXPECT_CONTAINS(error_of<InputError>([&] { l.next(); }), "shard-00000.index: damaged document offsets");
    EXPECT_THROW(l.next(), InputError);
  }
}

TEST(DataLoader, CorpusAcrossDatasetsAndSlices) {
  TempDir dir;
  const auto a = dataset_of(dir, numbered_docs({2, 3}), "a");
  const auto b = dataset_of(dir, numbered_docs({4}), "b");
  Corpus c;
  c.add(a);
  c.add(b);
  EXPECT_EQ(c.num_documents(), 3);
  EXPECT_EQ(c.num_tokens(), 9);
  EXPECT_EQ(c.tokens_before(2), 5);
  EXPECT_EQ(c.document_at_stream(0, 1), 0);
  EXPECT_EQ(c.document_at_stream(2, 1), 0);  // doc 0's EOS
  EXPECT_EQ(c.document_at_stream(3, 1), 1);
  EXPECT_EQ(c.document_at_stream(7, 1), 2);
  const Corpus tail = c.slice(1, 3);
  EXPECT_EQ(tail.num_documents(), 2);
  EXPECT_EQ(tail.length(0), 3);
  EXPECT_EQ(tail.length(1), 4);
  EXPECT_NE(tail.identity(), c.identity());
  // Another tokenizer cannot join.
  testing::write_file(dir.file("q.txt"), "x\n");
  build_dataset(testing::shared_tokenizer("qwen3"), options({dir.file("q.txt")}, dir.file("q")));
  EXPECT_CONTAINS(error_of<InputError>([&] { c.add(Dataset::open(dir.file("q"))); }), "another tokenizer");
}

}  // namespace
}  // namespace distill::data
