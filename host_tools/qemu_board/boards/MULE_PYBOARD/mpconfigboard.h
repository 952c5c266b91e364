// The emulated Pyboard's configuration, included first into every C file (-include).
#define MICROPY_FATFS_ENABLE_LFN (1)
#define MICROPY_FATFS_LFN_CODE_PAGE 437  // pasted into a name: no parentheses
#define MICROPY_FATFS_RPATH (2)
#define MICROPY_FATFS_NORTC (1)

// Poll the UART from the VM every 64 jumps/returns: Ctrl-C interrupts running code as a
// Pyboard's USB VCP interrupt does, and bytes move into the receive buffer.
void mule_uart_poll(void);
#define MICROPY_VM_HOOK_COUNT (64)
#define MICROPY_VM_HOOK_INIT static unsigned int vm_hook_divisor = MICROPY_VM_HOOK_COUNT;
#define MICROPY_VM_HOOK_POLL if (--vm_hook_divisor == 0) { \
        vm_hook_divisor = MICROPY_VM_HOOK_COUNT; \
        mule_uart_poll(); \
}
#define MICROPY_VM_HOOK_LOOP MICROPY_VM_HOOK_POLL
#define MICROPY_VM_HOOK_RETURN MICROPY_VM_HOOK_POLL
