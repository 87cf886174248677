// The fake kernel that guest unit tests run on: it must behave like the interface promises.
#include "fake_kernel.h"

#include <gtest/gtest.h>

namespace mmusim::vmalloc::testing {
namespace {

TEST(FakeKernel, RecordsFlushesWithTheirCpu) {
  FakeKernel kernel(4);
  kernel.set_cpu(2);
  kernel.flush_tlb_kernel_range(mmu::VirtAddr{0x1000}, mmu::VirtAddr{0x3000});
  kernel.flush_tlb_all();
  ASSERT_EQ(kernel.flushes().size(), 2u);
  EXPECT_EQ(kernel.flushes()[0], (FakeKernel::Flush{0x1000, 0x3000, 2}));
  EXPECT_EQ(kernel.flushes()[1], (FakeKernel::Flush{0, ~std::uint64_t{0}, 2}));
  EXPECT_EQ(kernel.num_online_cpus(), 4);
}

TEST(FakeKernel, TrylockFailsWhileHeld) {
  FakeKernel kernel;
  const LockId lock = kernel.lock_id("vmap_purge_lock", LockKind::kMutex);
  EXPECT_EQ(kernel.lock_id("vmap_purge_lock", LockKind::kMutex), lock);
  EXPECT_TRUE(kernel.trylock(lock));
  EXPECT_FALSE(kernel.trylock(lock));
  kernel.unlock(lock);
  EXPECT_TRUE(kernel.trylock(lock));
  ASSERT_EQ(kernel.lock_events().size(), 4u);
  EXPECT_EQ(kernel.lock_events()[1].action, "trylock-failed");
}

TEST(FakeKernel, DeferredWorkRunsOnItsCpuWhenAsked) {
  FakeKernel kernel(2);
  int ran_on = -1;
  kernel.schedule_work(1, [&] { ran_on = kernel.smp_processor_id(); });
  EXPECT_EQ(kernel.pending_work(1), 1u);
  EXPECT_EQ(ran_on, -1);
  EXPECT_EQ(kernel.run_work(1), 1u);
  EXPECT_EQ(ran_on, 1);
  EXPECT_EQ(kernel.smp_processor_id(), 0);
}

TEST(FakeKernel, AccessesGoThroughTheKernelPageTables) {
  FakeKernel kernel;
  const mmu::VirtAddr va{0xffffc90000000000};
  EXPECT_FALSE(kernel.access(va, mmu::AccessType::kRead).ok);
  ASSERT_TRUE(kernel.page_tables()
                  .map(kernel.kernel_root(), va, 4096, mmu::Pfn{0x777}, mmu::PageSize::k4K, {})
                  .ok());
  const AccessResult result = kernel.access(va + 0x10, mmu::AccessType::kWrite);
  EXPECT_TRUE(result.ok);
  EXPECT_EQ(result.paddr, mmu::PhysAddr{0x777010});
}

}  // namespace
}  // namespace mmusim::vmalloc::testing
