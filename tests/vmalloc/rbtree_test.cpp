// The red-black tree under the vmap areas: valid after every insert and erase of a long
// random sequence, in order, with working neighbour walks.
#include "vmalloc/rbtree.h"

#include <algorithm>
#include <iterator>
#include <map>
#include <memory>
#include <set>
#include <vector>

#include <gtest/gtest.h>

#include "mmu/random.h"

namespace mmusim::vmalloc {
namespace {

struct KeyNode : RbNode {
  explicit KeyNode(std::uint64_t k) : key(k) {}
  std::uint64_t key;
};

std::uint64_t key_of(const RbNode* node) {
  return static_cast<const KeyNode*>(node)->key;
}

// Descends as the vmap code does and links the node where the descent ends.
void insert(RbTree& tree, KeyNode* node) {
  RbNode** link = tree.root_link();
  RbNode* parent = nullptr;
  while (*link != nullptr) {
    parent = *link;
    link = node->key < key_of(parent) ? &parent->left : &parent->right;
  }
  tree.insert(node, parent, link);
}

std::vector<std::uint64_t> in_order(const RbTree& tree) {
  std::vector<std::uint64_t> keys;
  for (RbNode* node = tree.first(); node != nullptr; node = RbTree::next(node)) {
    keys.push_back(key_of(node));
  }
  return keys;
}

std::vector<std::uint64_t> reverse_order(const RbTree& tree) {
  std::vector<std::uint64_t> keys;
  for (RbNode* node = tree.last(); node != nullptr; node = RbTree::prev(node)) {
    keys.push_back(key_of(node));
  }
  return keys;
}

TEST(RbTree, EmptyTree) {
  RbTree tree;
  EXPECT_TRUE(tree.empty());
  EXPECT_EQ(tree.first(), nullptr);
  EXPECT_EQ(tree.last(), nullptr);
  EXPECT_EQ(tree.check(), 1);
}

TEST(RbTree, AscendingInsertsStayBalanced) {
  RbTree tree;
  std::vector<std::unique_ptr<KeyNode>> nodes;
  for (std::uint64_t key = 0; key < 1023; ++key) {
    nodes.push_back(std::make_unique<KeyNode>(key));
    insert(tree, nodes.back().get());
    ASSERT_GT(tree.check(), 0) << key;
  }
  // 1023 nodes: a red-black tree's height is at most 2 log2(n + 1) = 20.
  int height = 0;
  for (const auto& node : nodes) {
    int depth = 0;
    for (const RbNode* n = node.get(); n != nullptr; n = n->parent)
      ++depth;
    height = std::max(height, depth);
  }
  EXPECT_LE(height, 20);
  EXPECT_EQ(tree.size(), 1023u);
}

TEST(RbTree, StaysValidThroughRandomInsertsAndErases) {
  RbTree tree;
  std::map<std::uint64_t, std::unique_ptr<KeyNode>> live;
  std::set<std::uint64_t> keys;
  mmu::Rng rng(42, "rbtree-test");
  for (int step = 0; step < 20000; ++step) {
    const bool add = live.empty() || rng.below(100) < 55;
    if (add) {
      std::uint64_t key = rng.below(1'000'000);
      while (live.count(key) != 0)
        key = rng.below(1'000'000);
      auto node = std::make_unique<KeyNode>(key);
      insert(tree, node.get());
      live.emplace(key, std::move(node));
      keys.insert(key);
    } else {
      auto it = live.begin();
      std::advance(it, static_cast<long>(rng.below(live.size())));
      tree.erase(it->second.get());
      keys.erase(it->first);
      live.erase(it);
    }
    ASSERT_GT(tree.check(), 0) << "step " << step;
    ASSERT_EQ(tree.size(), keys.size());
    if (step % 500 == 0) {
      ASSERT_EQ(in_order(tree), std::vector<std::uint64_t>(keys.begin(), keys.end()));
      ASSERT_EQ(reverse_order(tree), std::vector<std::uint64_t>(keys.rbegin(), keys.rend()));
    }
  }
  // Erase everything in random order.
  while (!live.empty()) {
    auto it = live.begin();
    std::advance(it, static_cast<long>(rng.below(live.size())));
    tree.erase(it->second.get());
    live.erase(it);
    ASSERT_GT(tree.check(), 0);
  }
  EXPECT_TRUE(tree.empty());
}

// An augmented tree: each node keeps its subtree's node count and largest weight, and the
// tree keeps them right through inserts, erases (with their rotations) and weight changes.
struct WeightedNode : RbNode {
  WeightedNode(std::uint64_t k, std::uint64_t w) : key(k), weight(w) {}
  std::uint64_t key;
  std::uint64_t weight;
  std::uint64_t subtree_nodes = 1;
  std::uint64_t subtree_max_weight = 0;
};

WeightedNode* weighted(RbNode* node) {
  return static_cast<WeightedNode*>(node);
}

bool recompute_weights(RbNode* node) {
  WeightedNode* n = weighted(node);
  std::uint64_t nodes = 1;
  std::uint64_t max_weight = n->weight;
  for (RbNode* child : {node->left, node->right}) {
    if (child == nullptr) continue;
    nodes += weighted(child)->subtree_nodes;
    max_weight = std::max(max_weight, weighted(child)->subtree_max_weight);
  }
  const bool changed = nodes != n->subtree_nodes || max_weight != n->subtree_max_weight;
  n->subtree_nodes = nodes;
  n->subtree_max_weight = max_weight;
  return changed;
}

// Recounts every subtree from scratch; returns whether the kept summaries all match.
bool summaries_match(RbNode* node, std::uint64_t* nodes, std::uint64_t* max_weight) {
  if (node == nullptr) {
    *nodes = 0;
    *max_weight = 0;
    return true;
  }
  std::uint64_t left_nodes = 0, left_max = 0, right_nodes = 0, right_max = 0;
  const bool children = summaries_match(node->left, &left_nodes, &left_max) &&
                        summaries_match(node->right, &right_nodes, &right_max);
  *nodes = left_nodes + right_nodes + 1;
  *max_weight = std::max({left_max, right_max, weighted(node)->weight});
  return children && weighted(node)->subtree_nodes == *nodes &&
         weighted(node)->subtree_max_weight == *max_weight;
}

TEST(RbTree, AugmentedSummariesFollowEveryChange) {
  RbTree tree(&recompute_weights);
  std::map<std::uint64_t, std::unique_ptr<WeightedNode>> live;
  mmu::Rng rng(7, "rbtree-augmented-test");
  for (int step = 0; step < 20000; ++step) {
    const std::uint64_t roll = rng.below(100);
    if (live.empty() || roll < 50) {
      std::uint64_t key = rng.below(1'000'000);
      while (live.count(key) != 0)
        key = rng.below(1'000'000);
      auto node = std::make_unique<WeightedNode>(key, rng.below(1000));
      RbNode** link = tree.root_link();
      RbNode* parent = nullptr;
      while (*link != nullptr) {
        parent = *link;
        link = key < weighted(parent)->key ? &parent->left : &parent->right;
      }
      tree.insert(node.get(), parent, link);
      live.emplace(key, std::move(node));
    } else {
      auto it = live.begin();
      std::advance(it, static_cast<long>(rng.below(live.size())));
      if (roll < 85) {
        tree.erase(it->second.get());
        live.erase(it);
      } else {
        it->second->weight = rng.below(1000);
        tree.propagate(it->second.get());
      }
    }
    std::uint64_t nodes = 0, max_weight = 0;
    ASSERT_TRUE(summaries_match(tree.root(), &nodes, &max_weight)) << "step " << step;
    ASSERT_EQ(nodes, live.size());
    ASSERT_GT(tree.check(), 0);
  }
}

TEST(RbTree, CheckCatchesBrokenTrees) {
  RbTree tree;
  KeyNode a(1), b(2), c(3);
  insert(tree, &a);
  insert(tree, &b);
  insert(tree, &c);
  ASSERT_GT(tree.check(), 0);
  // Two reds in a row.
  RbNode* root = tree.root();
  root->left->red = true;
  root->red = true;
  EXPECT_EQ(tree.check(), -1);
  root->red = false;
  // Unequal black heights.
  root->left->red = false;
  root->right->red = true;
  EXPECT_EQ(tree.check(), -1);
  root->right->red = false;
  // A wrong parent link.
  root->left->parent = root->right;
  EXPECT_EQ(tree.check(), -1);
}

}  // namespace
}  // namespace mmusim::vmalloc
