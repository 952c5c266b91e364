// The emulated Pyboard's configuration, included first into every C file (-include).
#define MICROPY_FATFS_ENABLE_LFN (1)
#define MICROPY_FATFS_LFN_CODE_PAGE 437  // pasted into a name: no parentheses
#define MICROPY_FATFS_RPATH (2)
#define MICROPY_FATFS_NORTC (1)
