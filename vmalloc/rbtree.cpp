#include "vmalloc/rbtree.h"

namespace mmusim::vmalloc {
namespace {

bool is_red(const RbNode* node) {
  return node != nullptr && node->red;
}

RbNode* leftmost(RbNode* node) {
  while (node->left != nullptr)
    node = node->left;
  return node;
}

RbNode* rightmost(RbNode* node) {
  while (node->right != nullptr)
    node = node->right;
  return node;
}

int black_height(const RbNode* node, const RbNode* parent) {
  if (node == nullptr) return 1;
  if (node->parent != parent) return -1;
  if (node->red && (is_red(node->left) || is_red(node->right))) return -1;
  const int left = black_height(node->left, node);
  const int right = black_height(node->right, node);
  if (left < 0 || right < 0 || left != right) return -1;
  return left + (node->red ? 0 : 1);
}

}  // namespace

void RbTree::rotate_left(RbNode* x) {
  RbNode* y = x->right;
  x->right = y->left;
  if (y->left != nullptr) y->left->parent = x;
  y->parent = x->parent;
  if (x->parent == nullptr) {
    root_ = y;
  } else if (x == x->parent->left) {
    x->parent->left = y;
  } else {
    x->parent->right = y;
  }
  y->left = x;
  x->parent = y;
  // The pair's subtree as a whole is unchanged: only the two rotated nodes' summaries move.
  if (recompute_ != nullptr) {
    recompute_(x);
    recompute_(y);
  }
}

void RbTree::rotate_right(RbNode* x) {
  RbNode* y = x->left;
  x->left = y->right;
  if (y->right != nullptr) y->right->parent = x;
  y->parent = x->parent;
  if (x->parent == nullptr) {
    root_ = y;
  } else if (x == x->parent->right) {
    x->parent->right = y;
  } else {
    x->parent->left = y;
  }
  y->right = x;
  x->parent = y;
  if (recompute_ != nullptr) {
    recompute_(x);
    recompute_(y);
  }
}

void RbTree::recompute_to_root(RbNode* node) {
  if (recompute_ == nullptr) return;
  for (; node != nullptr; node = node->parent)
    recompute_(node);
}

void RbTree::propagate(RbNode* node) {
  if (recompute_ == nullptr) return;
  for (; node != nullptr; node = node->parent) {
    if (!recompute_(node)) break;
  }
}

void RbTree::insert(RbNode* node, RbNode* parent, RbNode** link) {
  node->parent = parent;
  node->left = nullptr;
  node->right = nullptr;
  node->red = true;
  *link = node;
  ++size_;
  recompute_to_root(node);
  insert_fixup(node);
}

void RbTree::insert_fixup(RbNode* z) {
  while (is_red(z->parent)) {
    RbNode* p = z->parent;
    RbNode* g = p->parent;  // exists: a red node is never the root
    if (p == g->left) {
      RbNode* uncle = g->right;
      if (is_red(uncle)) {
        p->red = false;
        uncle->red = false;
        g->red = true;
        z = g;
      } else {
        if (z == p->right) {
          z = p;
          rotate_left(z);
          p = z->parent;
        }
        p->red = false;
        g->red = true;
        rotate_right(g);
      }
    } else {
      RbNode* uncle = g->left;
      if (is_red(uncle)) {
        p->red = false;
        uncle->red = false;
        g->red = true;
        z = g;
      } else {
        if (z == p->left) {
          z = p;
          rotate_right(z);
          p = z->parent;
        }
        p->red = false;
        g->red = true;
        rotate_left(g);
      }
    }
  }
  root_->red = false;
}

void RbTree::transplant(RbNode* u, RbNode* v) {
  if (u->parent == nullptr) {
    root_ = v;
  } else if (u == u->parent->left) {
    u->parent->left = v;
  } else {
    u->parent->right = v;
  }
  if (v != nullptr) v->parent = u->parent;
}

void RbTree::erase(RbNode* z) {
  RbNode* y = z;
  bool removed_red = y->red;
  RbNode* x = nullptr;
  RbNode* x_parent = nullptr;
  if (z->left == nullptr) {
    x = z->right;
    x_parent = z->parent;
    transplant(z, z->right);
  } else if (z->right == nullptr) {
    x = z->left;
    x_parent = z->parent;
    transplant(z, z->left);
  } else {
    y = leftmost(z->right);
    removed_red = y->red;
    x = y->right;
    if (y->parent == z) {
      x_parent = y;
    } else {
      x_parent = y->parent;
      transplant(y, y->right);
      y->right = z->right;
      y->right->parent = y;
    }
    transplant(z, y);
    y->left = z->left;
    y->left->parent = y;
    y->red = z->red;
  }
  --size_;
  z->parent = z->left = z->right = nullptr;
  // x_parent is where a node left the tree; the path from it to the root passes through every
  // node whose subtree changed (y, when it took z's place, included).
  recompute_to_root(x_parent);
  if (!removed_red) erase_fixup(x, x_parent);
}

void RbTree::erase_fixup(RbNode* x, RbNode* parent) {
  while (x != root_ && !is_red(x)) {
    if (x == parent->left) {
      RbNode* w = parent->right;
      if (w->red) {
        w->red = false;
        parent->red = true;
        rotate_left(parent);
        w = parent->right;
      }
      if (!is_red(w->left) && !is_red(w->right)) {
        w->red = true;
        x = parent;
        parent = x->parent;
      } else {
        if (!is_red(w->right)) {
          w->left->red = false;
          w->red = true;
          rotate_right(w);
          w = parent->right;
        }
        w->red = parent->red;
        parent->red = false;
        if (w->right != nullptr) w->right->red = false;
        rotate_left(parent);
        x = root_;
        break;
      }
    } else {
      RbNode* w = parent->left;
      if (w->red) {
        w->red = false;
        parent->red = true;
        rotate_right(parent);
        w = parent->left;
      }
      if (!is_red(w->left) && !is_red(w->right)) {
        w->red = true;
        x = parent;
        parent = x->parent;
      } else {
        if (!is_red(w->left)) {
          w->right->red = false;
          w->red = true;
          rotate_left(w);
          w = parent->left;
        }
        w->red = parent->red;
        parent->red = false;
        if (w->left != nullptr) w->left->red = false;
        rotate_right(parent);
        x = root_;
        break;
      }
    }
  }
  if (x != nullptr) x->red = false;
}

RbNode* RbTree::next(const RbNode* node) {
  if (node->right != nullptr) return leftmost(node->right);
  const RbNode* child = node;
  RbNode* parent = node->parent;
  while (parent != nullptr && child == parent->right) {
    child = parent;
    parent = parent->parent;
  }
  return parent;
}

RbNode* RbTree::prev(const RbNode* node) {
  if (node->left != nullptr) return rightmost(node->left);
  const RbNode* child = node;
  RbNode* parent = node->parent;
  while (parent != nullptr && child == parent->left) {
    child = parent;
    parent = parent->parent;
  }
  return parent;
}

RbNode* RbTree::first() const {
  return root_ == nullptr ? nullptr : leftmost(root_);
}

RbNode* RbTree::last() const {
  return root_ == nullptr ? nullptr : rightmost(root_);
}

int RbTree::check() const {
  if (is_red(root_)) return -1;
  return black_height(root_, nullptr);
}

}  // namespace mmusim::vmalloc
