// An intrusive red-black tree (the textbook algorithm, with parent pointers). The kernel keeps
// its vmap areas in one; the model does too, so that a lookup visits as many nodes as the
// kernel's would, and the cost of each visit can be charged. The caller descends the tree
// itself (it knows the ordering) and links the new node where the descent ended, as the
// kernel's rb_link_node()/rb_insert_color() pair does.
//
// A tree may be augmented: each node then carries a summary of its subtree (a count, a
// maximum, ...) that a recompute function derives from the node and its two children. The tree
// keeps the summaries current through inserts, erases and rotations; when a node's own value
// changes, its owner calls propagate().
#pragma once

#include <cstddef>

namespace mmusim::vmalloc {

struct RbNode {
  RbNode* parent = nullptr;
  RbNode* left = nullptr;
  RbNode* right = nullptr;
  bool red = false;
};

// Recomputes `node`'s subtree summary from the node and its children (whose summaries are
// current); returns whether the summary changed.
using RbRecompute = bool (*)(RbNode* node);

class RbTree {
 public:
  RbTree() = default;
  explicit RbTree(RbRecompute recompute) : recompute_(recompute) {}
  RbTree(const RbTree&) = delete;
  RbTree& operator=(const RbTree&) = delete;

  [[nodiscard]] RbNode* root() const { return root_; }
  [[nodiscard]] bool empty() const { return root_ == nullptr; }
  [[nodiscard]] std::size_t size() const { return size_; }

  // Links `node` below `parent` (nullptr for the root) on the side `link` points to
  // (&parent->left or &parent->right, or &root for an empty tree), then rebalances.
  void insert(RbNode* node, RbNode* parent, RbNode** link);
  void erase(RbNode* node);
  // After something `node`'s summary depends on changed: recomputes it and its ancestors,
  // stopping at the first one whose summary comes out the same.
  void propagate(RbNode* node);
  // The root's slot, for descents that reach an empty tree.
  [[nodiscard]] RbNode** root_link() { return &root_; }

  [[nodiscard]] static RbNode* next(const RbNode* node);
  [[nodiscard]] static RbNode* prev(const RbNode* node);
  [[nodiscard]] RbNode* first() const;
  [[nodiscard]] RbNode* last() const;

  // For tests: the red-black properties hold and parent links are consistent. Returns the
  // black height, or -1 when something is wrong.
  [[nodiscard]] int check() const;

 private:
  void rotate_left(RbNode* x);
  void rotate_right(RbNode* x);
  void insert_fixup(RbNode* z);
  void erase_fixup(RbNode* x, RbNode* x_parent);
  void transplant(RbNode* u, RbNode* v);
  // Recomputes the summaries from `node` up to the root (after a node was linked or unlinked
  // below it, every summary on the way changes).
  void recompute_to_root(RbNode* node);

  RbRecompute recompute_ = nullptr;
  RbNode* root_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace mmusim::vmalloc
