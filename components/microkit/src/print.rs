//! `debug_print!` and `debug_println!`.

use core::fmt;

/// Writes formatted text to the debug console (host: the PD's stdout, which
/// `vetted run` prefixes with the PD name).
#[doc(hidden)]
pub fn debug_print(args: fmt::Arguments<'_>) {
    crate::backend::debug_print(args)
}

/// Prints to the debug console, like `print!`.
#[macro_export]
macro_rules! debug_print {
    ($($arg:tt)*) => {
        $crate::_private::debug_print(::core::format_args!($($arg)*))
    };
}

/// Prints a line to the debug console, like `println!`.
#[macro_export]
macro_rules! debug_println {
    () => {
        $crate::_private::debug_print(::core::format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::_private::debug_print(::core::format_args!("{}\n", ::core::format_args!($($arg)*)))
    };
}
