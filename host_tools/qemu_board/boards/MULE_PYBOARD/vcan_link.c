// The emulated Pyboard's end of the virtual CAN bus (host_tools/vcan/bus.py), for
// host_tools/vcan/mp/mule_vcan.py (frozen): its machine.CAN reads and writes the bus's
// 20-byte records through this module.
// - bus -> board: a file the host appends whole records to ("mule_can_in" in QEMU's folder),
//   read through semihosting when the program asks (QEMU's UART passes one byte per round
//   trip of its main loop, a few KB/s: too slow for a busy bus);
// - board -> bus: UART1 (QEMU's second -serial, a socket to the bus); the board sends few frames.
// vcan_link.open() is False when the host gave the board no bus (no such file).

#include "py/runtime.h"

#define SYS_OPEN (0x01)
#define SYS_READ (0x06)
#define SYS_SEEK (0x0a)
#define SYS_FLEN (0x0c)
#define MODE_RB (1)
#define CAN_IN_FILE "mule_can_in"

int semihost(int op, const void *arg);  // mule_board.c

typedef struct _cmsdk_uart_t {
    volatile uint32_t DATA;
    volatile uint32_t STATE;
    volatile uint32_t CTRL;
    volatile uint32_t INTSTATUS;
    volatile uint32_t BAUDDIV;
} cmsdk_uart_t;
#define UART1 ((cmsdk_uart_t *)0x40005000)
#define UART_STATE_TXFULL (1 << 0)
#define UART_CTRL_TX_EN (1 << 0)

static int can_in_fd = -1;  // opened once; kept across soft resets

static bool vcan_attached(void) {
    if (can_in_fd < 0) {
        uint32_t open_args[3] = {(uint32_t)CAN_IN_FILE, MODE_RB, sizeof(CAN_IN_FILE) - 1};
        can_in_fd = semihost(SYS_OPEN, open_args);
    }
    return can_in_fd >= 0;
}

// The heap is built MULE_VCAN_HEAP bytes larger than the board's (build.py): the frozen
// machine.CAN's objects take that share when a bus is attached (a real board's driver is C,
// its state outside the heap); without a bus the program gets exactly the board's heap.
void __real_gc_init(void *start, void *end);
void __wrap_gc_init(void *start, void *end) {
    if (!vcan_attached()) {
        end = (char *)end - MULE_VCAN_HEAP;
    }
    __real_gc_init(start, end);
}

// True when the host attached a bus; reading starts at the file's end (what a controller
// started now would hear), so records from before a (soft) reset are not replayed.
static mp_obj_t vcan_link_open(void) {
    if (!vcan_attached()) {
        return mp_const_false;
    }
    UART1->BAUDDIV = 16;
    UART1->CTRL = UART_CTRL_TX_EN;
    uint32_t flen_args[1] = {can_in_fd};
    uint32_t seek_args[2] = {can_in_fd, semihost(SYS_FLEN, flen_args)};
    semihost(SYS_SEEK, seek_args);
    return mp_const_true;
}
static MP_DEFINE_CONST_FUN_OBJ_0(vcan_link_open_obj, vcan_link_open);

// readinto(buf): the bytes the host appended since the last call, at most len(buf); 0 when none
static mp_obj_t vcan_link_readinto(mp_obj_t buf_in) {
    mp_buffer_info_t bufinfo;
    mp_get_buffer_raise(buf_in, &bufinfo, MP_BUFFER_WRITE);
    if (can_in_fd < 0 || bufinfo.len == 0) {
        return MP_OBJ_NEW_SMALL_INT(0);
    }
    uint32_t read_args[3] = {can_in_fd, (uint32_t)bufinfo.buf, bufinfo.len};
    return MP_OBJ_NEW_SMALL_INT(bufinfo.len - semihost(SYS_READ, read_args));  // it returns the bytes NOT read
}
static MP_DEFINE_CONST_FUN_OBJ_1(vcan_link_readinto_obj, vcan_link_readinto);

// write(buf): onto UART1, every byte (QEMU drops them while no bus is connected)
static mp_obj_t vcan_link_write(mp_obj_t buf_in) {
    mp_buffer_info_t bufinfo;
    mp_get_buffer_raise(buf_in, &bufinfo, MP_BUFFER_READ);
    const uint8_t *p = bufinfo.buf;
    for (size_t i = 0; i < bufinfo.len; ++i) {
        while (UART1->STATE & UART_STATE_TXFULL) {
        }
        UART1->DATA = p[i];
    }
    return MP_OBJ_NEW_SMALL_INT(bufinfo.len);
}
static MP_DEFINE_CONST_FUN_OBJ_1(vcan_link_write_obj, vcan_link_write);

static mp_obj_t vcan_link_close(void) {
    return mp_const_none;  // the file stays open for the next controller
}
static MP_DEFINE_CONST_FUN_OBJ_0(vcan_link_close_obj, vcan_link_close);

static const mp_rom_map_elem_t vcan_link_globals_table[] = {
    { MP_ROM_QSTR(MP_QSTR___name__), MP_ROM_QSTR(MP_QSTR_vcan_link) },
    { MP_ROM_QSTR(MP_QSTR_open), MP_ROM_PTR(&vcan_link_open_obj) },
    { MP_ROM_QSTR(MP_QSTR_readinto), MP_ROM_PTR(&vcan_link_readinto_obj) },
    { MP_ROM_QSTR(MP_QSTR_write), MP_ROM_PTR(&vcan_link_write_obj) },
    { MP_ROM_QSTR(MP_QSTR_close), MP_ROM_PTR(&vcan_link_close_obj) },
};
static MP_DEFINE_CONST_DICT(vcan_link_globals, vcan_link_globals_table);

const mp_obj_module_t vcan_link_module = {
    .base = { &mp_type_module },
    .globals = (mp_obj_dict_t *)&vcan_link_globals,
};

MP_REGISTER_MODULE(MP_QSTR_vcan_link, vcan_link_module);
