/** Test option for slow scenario tests: `it("boots systemd", slow, async () => ...)`. `npm run test:quick` skips them. */
export const slow: { skip: string | false } = { skip: process.env.BERTH_QUICK ? "slow test (BERTH_QUICK set)" : false };

/** Skips a test unless running as root on Linux (integration tests need real runc and cgroups). */
export const needsRoot: { skip: string | false } = {
  skip: process.getuid?.() === 0 ? false : "needs root (integration test)",
};
